package city

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/casesys"
)

//go:embed page/city.html
var pageHTML []byte

//go:embed page/city.js
var pageJS []byte

//go:embed page/city.css
var pageCSS []byte

// Server answers the city view's routes:
//
//	GET /city/                      the page (no data; it asks for a token)
//	GET /city/city.js, city.css     its script and style
//	GET /city/api/summary?from=&to=&by=hall|dept[&hall=a,b]   JSON (Summary)
//	GET /city/export.csv?…, /city/export.xlsx?…               for people
//
// Every data route needs `Authorization: Bearer <city token>` (a city
// key ring's, auth.OpenCity); a token reads only its halls.
type Server struct {
	pool  *pgxpool.Pool
	cfg   *Config
	keys  *auth.Keys
	log   *slog.Logger
	clock clockwork.Clock
}

// NewServer makes the city view's HTTP server.
func NewServer(pool *pgxpool.Pool, cfg *Config, keys *auth.Keys, log *slog.Logger, clock clockwork.Clock) *Server {
	return &Server{pool: pool, cfg: cfg, keys: keys, log: log, clock: clock}
}

// Handler is the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /city/{$}", s.page)
	mux.HandleFunc("GET /city/city.js", asset("text/javascript; charset=utf-8", pageJS))
	mux.HandleFunc("GET /city/city.css", asset("text/css; charset=utf-8", pageCSS))
	mux.HandleFunc("GET /city/api/summary", s.data(s.summary))
	mux.HandleFunc("GET /city/export.csv", s.data(s.exportCSV))
	mux.HandleFunc("GET /city/export.xlsx", s.data(s.exportXLSX))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/city/", http.StatusFound)
	})
	return headers(mux)
}

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(pageHTML)
}

func asset(ctype string, b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

// problem is an application/problem+json answer, as the hall's API's.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
	Detail    string `json:"detail,omitempty"`
}

var problems = map[string]problem{
	"unauthorized":  {Status: 401, MessageZH: "需要城市角色的令牌（缺少或无效）", MessageEN: "a valid city bearer token is required"},
	"token_expired": {Status: 401, MessageZH: "令牌已过期，请重新获取", MessageEN: "the token has expired"},
	"forbidden":     {Status: 403, MessageZH: "该令牌无权查看此大厅", MessageEN: "this token may not read that hall"},
	"bad_request":   {Status: 400, MessageZH: "请求参数有误", MessageEN: "bad request parameters"},
	"internal":      {Status: 500, MessageZH: "服务器内部错误", MessageEN: "internal error"},
}

func writeProblem(w http.ResponseWriter, code, detail string) {
	p := problems[code]
	p.Type, p.Title, p.Code, p.Detail = "about:blank", http.StatusText(p.Status), code, detail
	w.Header().Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="servicehall-city"`)
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// today is the city's local date now.
func (s *Server) today() string {
	return s.clock.Now().In(s.cfg.Loc).Format(casesys.DateLayout)
}

// data wraps a data route: the bearer token (city role, not expired),
// the query parsed and narrowed to the token's halls.
func (s *Server) data(h func(http.ResponseWriter, *http.Request, Query)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeProblem(w, "unauthorized", "no bearer token")
			return
		}
		c, err := s.keys.Parse(strings.TrimSpace(tok), s.clock.Now())
		if err != nil {
			code := "unauthorized"
			if errors.Is(err, auth.ErrTokenExpired) {
				code = "token_expired"
			}
			s.log.Info("city token refused", "reason", auth.Reason(err), "path", r.URL.Path)
			writeProblem(w, code, auth.Reason(err))
			return
		}
		q, err := ParseQuery(r.URL.Query(), s.today())
		if err != nil {
			writeProblem(w, "bad_request", err.Error())
			return
		}
		if q, err = q.Limit(c); err != nil {
			writeProblem(w, "forbidden", err.Error())
			return
		}
		s.log.Info("city read", "subject", c.Subject, "path", r.URL.Path, "from", q.From, "to", q.To, "by", q.By)
		h(w, r, q)
	}
}

func (s *Server) run(ctx context.Context, w http.ResponseWriter, q Query) (Summary, bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sum, err := Summarize(ctx, s.pool, q, s.cfg)
	if err != nil {
		s.log.Error("city summary failed", "err", err)
		writeProblem(w, "internal", "")
		return Summary{}, false
	}
	return sum, true
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request, q Query) {
	sum, ok := s.run(r.Context(), w, q)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sum)
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request, q Query) {
	s.export(w, r, q, "csv", "text/csv; charset=utf-8", WriteCSVZh)
}

func (s *Server) exportXLSX(w http.ResponseWriter, r *http.Request, q Query) {
	s.export(w, r, q, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", WriteXLSXZh)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, q Query, ext, ctype string, write func(io.Writer, Summary) error) {
	sum, ok := s.run(r.Context(), w, q)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := write(&b, sum); err != nil {
		s.log.Error("city export failed", "err", err)
		writeProblem(w, "internal", "")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="city-`+q.By+"-"+q.From+"-"+q.To+"."+ext+`"`)
	w.Write(b.Bytes())
}
