package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/report"
)

// The manager console's extra routes (issue 11): the charts' time series.

// mountManagerConsole adds the manager console's chart data.
func (s *server) mountManagerConsole(api apiFunc) {
	api("GET", "/api/v1/manager/reports/series", RoleManager, s.getSeries)
}

// getSeries answers report.Series: ?day=YYYY-MM-DD (the hour-by-hour
// charts, default the hall's today) and from/to (the satisfaction trend,
// default the 14 days to day), dates in the hall's time zone.
func (s *server) getSeries(w http.ResponseWriter, r *http.Request, _ Claims) {
	q := r.URL.Query()
	loc := s.c.Config().Loc
	if loc == nil {
		loc = time.Local
	}
	o := report.SeriesOpts{Day: q.Get("day"), From: q.Get("from"), To: q.Get("to")}
	if o.Day == "" {
		o.Day = s.c.Now().In(loc).Format(casesys.DateLayout)
	}
	if o.To == "" {
		o.To = o.Day
	}
	if o.From == "" {
		if to, err := time.Parse(casesys.DateLayout, o.To); err == nil {
			o.From = to.AddDate(0, 0, -13).Format(casesys.DateLayout)
		} else {
			o.From = o.To // Series names the bad date
		}
	}
	out, err := s.c.Series(r.Context(), o)
	if err != nil {
		if errors.Is(err, report.ErrBadOpts) {
			writeProblem(w, "bad_report", err.Error())
			return
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, out)
}
