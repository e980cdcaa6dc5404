package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/internal/secret"
)

// Staff sign-in (docs/security.md, "Staff sign-in"): a clerk or manager
// signs in to a console with the staff id and password of the hall
// config's `staff:` section — POST /api/v1/session with
// {"staff", "password", "window"} — instead of pasting a token. The
// server checks the password against the bcrypt hash (an unknown id is
// checked against a dummy hash, so both take as long and get the same
// 401 sign_in_failed), then mints a short-lived token whose subject is
// the staff id (so `hallctl token disable ID` refuses it at once) and,
// for a clerk, whose window is the window signed in at (the console then
// acts for that window only), and sets it as the sh_session cookie.
//
// Failed sign-ins are throttled per client address and per staff id:
// after SignInFreeFailures failures the next try waits (1 min, doubling
// to 15 min) and is answered 429 with Retry-After, whatever the password.
// Every outcome is counted in hallctl_staff_signins_total; the password
// is never logged. DELETE /api/v1/session ends the session: the cookie is
// cleared and the session's token (its jti) is refused from then on.

// StaffSessionTTL is how long a staff sign-in lasts (capped by the
// role's token cap: an admin's hour).
const StaffSessionTTL = 8 * time.Hour

// Throttling of failed sign-ins.
const (
	SignInFreeFailures   = 5                // per staff id before waits begin
	SignInFreeFailuresIP = 20               // per client address
	signInFirstWait      = time.Minute      // the first wait, doubled per failure
	signInMaxWait        = 15 * time.Minute // the longest wait
	signInForget         = time.Hour        // failures older than this are forgotten
	maxPasswordLen       = 128
)

func init() {
	problems["sign_in_failed"] = problemText{401, "工号或密码错误", "wrong staff id or password"}
	problems["sign_in_throttled"] = problemText{429, "登录失败次数过多，请稍后再试", "too many failed sign-ins; try again later"}
	problems["staff_disabled"] = problemText{403, "该工号已停用，请联系管理员", "this staff id is disabled; ask an administrator"}
	problems["window_required"] = problemText{400, "请选择您所在的窗口", "choose the window you work at"}
	problems["window_not_allowed"] = problemText{403, "该工号不能在此窗口登录", "this staff id may not sign in at that window"}
	problems["session_ended"] = problemText{401, "已退出登录，请重新登录", "the session has ended; sign in again"}
}

// staffAuth is the web layer's staff sign-in state.
type staffAuth struct {
	mu       sync.Mutex
	failures map[string]*failCount // "ip:ADDR" and "id:STAFF"
	signins  *prometheus.CounterVec
}

type failCount struct {
	n     int
	last  time.Time
	until time.Time
}

func newStaffAuth(reg prometheus.Registerer) *staffAuth {
	a := &staffAuth{failures: map[string]*failCount{},
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_staff_signins_total",
			Help: "Staff sign-ins by result: ok, failed (wrong id or password), throttled, disabled, window (not allowed or missing), error."}, []string{"result"})}
	for _, r := range []string{"ok", "failed", "throttled", "disabled", "window", "error"} {
		a.signins.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(a.signins)
	}
	return a
}

// wait is how long key must still wait before its next try (0 = may try).
func (a *staffAuth) wait(now time.Time, keys ...string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		if f := a.failures[k]; f != nil && f.until.After(now) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

// fail counts a failure of each key (limit is its free failures).
func (a *staffAuth) fail(now time.Time, key string, free int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > 10000 {
		for k, f := range a.failures {
			if now.Sub(f.last) > signInForget {
				delete(a.failures, k)
			}
		}
	}
	f := a.failures[key]
	if f == nil || now.Sub(f.last) > signInForget {
		f = &failCount{}
		a.failures[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - free; over >= 0 {
		w := signInFirstWait << min(over, 8)
		f.until = now.Add(min(w, signInMaxWait))
	}
}

func (a *staffAuth) reset(key string) {
	a.mu.Lock()
	delete(a.failures, key)
	a.mu.Unlock()
}

// dummyHashes holds, per bcrypt cost, a hash compared against when the
// staff id is unknown, so an unknown id takes as long as a wrong password.
var dummyHashes sync.Map // cost → func() []byte

func dummyHash(cost int) []byte {
	f, _ := dummyHashes.LoadOrStore(cost, sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("servicehall-no-such-staff"), cost)
		if err != nil {
			panic(err)
		}
		return h
	}))
	return f.(func() []byte)()
}

// typicalCost is the bcrypt cost most of the configured hashes have (the
// dummy hash's), bcrypt.DefaultCost when none is inline.
func typicalCost(cfg *config.Config) int {
	n := map[int]int{}
	best, cost := 0, bcrypt.DefaultCost
	for _, st := range cfg.Staff {
		if c, err := bcrypt.Cost([]byte(st.PasswordHash)); err == nil {
			n[c]++
			if n[c] > best {
				best, cost = n[c], c
			}
		}
	}
	return cost
}

// staffHash is the bcrypt hash of a staff member's password.
func staffHash(st config.Staff) ([]byte, error) {
	if st.PasswordFile == "" {
		return []byte(st.PasswordHash), nil
	}
	b, err := secret.Read(st.PasswordFile)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

// postStaffSession signs a staff member in (postSession with "staff").
func (s *server) postStaffSession(w http.ResponseWriter, r *http.Request, req SessionRequest) {
	now := s.c.Now()
	id := strings.TrimSpace(req.Staff)
	ipKey, idKey := "ip:"+clientIP(r), "id:"+id
	logID := id
	if !auth.ValidSubject(logID) {
		logID = "(invalid)"
	}
	if wait := s.staff.wait(now, ipKey, idKey); wait > 0 {
		s.staff.signins.WithLabelValues("throttled").Inc()
		s.log.Warn("staff sign-in throttled", "staff", logID, "client", clientIP(r))
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		writeProblem(w, "sign_in_throttled", "")
		return
	}
	cfg := s.c.Config()
	st, known := cfg.StaffMember(id)
	var hash []byte
	if known {
		h, err := staffHash(st)
		if err != nil {
			s.staff.signins.WithLabelValues("error").Inc()
			writeProblemCause(w, "internal", "", err)
			return
		}
		hash = h
	} else {
		hash = dummyHash(typicalCost(cfg))
	}
	pw := []byte(req.Password)
	if len(pw) > maxPasswordLen {
		pw = pw[:maxPasswordLen] // still compared: the answer takes as long
	}
	ok := bcrypt.CompareHashAndPassword(hash, pw) == nil && known && len(req.Password) <= maxPasswordLen && req.Password != ""
	if !ok {
		s.staff.fail(now, ipKey, SignInFreeFailuresIP)
		s.staff.fail(now, idKey, SignInFreeFailures)
		s.staff.signins.WithLabelValues("failed").Inc()
		s.log.Warn("staff sign-in failed", "staff", logID, "client", clientIP(r))
		writeProblem(w, "sign_in_failed", "")
		return
	}
	s.staff.reset(idKey)
	if s.c.SubjectDisabled(st.ID) {
		s.staff.signins.WithLabelValues("disabled").Inc()
		s.log.Warn("staff sign-in refused: disabled", "staff", st.ID)
		writeProblem(w, "staff_disabled", "")
		return
	}
	window := 0
	if st.Role == RoleClerk {
		switch {
		case req.Window <= 0:
			s.staff.signins.WithLabelValues("window").Inc()
			writeProblem(w, "window_required", "")
			return
		case cfg.Window(req.Window) == nil:
			s.staff.signins.WithLabelValues("window").Inc()
			writeProblem(w, "unknown_window", strconv.Itoa(req.Window))
			return
		case !st.MayWindow(req.Window):
			s.staff.signins.WithLabelValues("window").Inc()
			writeProblem(w, "window_not_allowed", "")
			return
		}
		window = req.Window
	}
	ttl := min(StaffSessionTTL, auth.MaxTTL(st.Role))
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		writeProblemCause(w, "internal", "", err)
		return
	}
	cl := Claims{Role: st.Role, Window: window, Subject: st.ID, Issued: now.Unix(), Expires: now.Add(ttl).Unix(),
		Session: hex.EncodeToString(jti[:])}
	tok, err := s.o.Keys.Sign(cl)
	if err != nil {
		s.staff.signins.WithLabelValues("error").Inc()
		writeProblemCause(w, "internal", "", err)
		return
	}
	if window != 0 {
		if err := s.c.ClerkSignedIn(r.Context(), window, st.ID); err != nil {
			s.log.Error("record clerk sign-in", "staff", st.ID, "window", window, "err", err)
		}
	}
	s.staff.signins.WithLabelValues("ok").Inc()
	s.log.Info("staff signed in", "staff", st.ID, "role", st.Role, "window", window, "client", clientIP(r))
	s.setSession(w, r, tok, cl)
}

// endSession is sign-out's server side: the session's token is refused
// from now on, and a clerk leaves the window.
func (s *server) endSession(r *http.Request) {
	tok, ok := requestToken(r)
	if !ok {
		return
	}
	cl, err := s.authenticate(tok)
	if err != nil || cl.Session == "" {
		return // a machine token (no session id) is not ended by a sign-out
	}
	// Durable before the answer: a restart does not bring the session
	// back (ctl.EndSession, a record of the subjects stream).
	if err := s.c.EndSession(r.Context(), cl.Session, cl.Subject, time.Unix(cl.Expires, 0)); err != nil {
		s.log.Error("record sign-out", "staff", cl.Subject, "err", err)
	}
	if cl.Role == RoleClerk && cl.Window != 0 {
		if err := s.c.ClerkSignedOut(r.Context(), cl.Window, cl.Subject); err != nil {
			s.log.Error("record clerk sign-out", "staff", cl.Subject, "window", cl.Window, "err", err)
		}
	}
	s.log.Info("staff signed out", "staff", cl.Subject, "window", cl.Window)
}
