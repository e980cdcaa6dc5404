package ctl

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// AlertCalendar is the manager alert raised while the current or next
// month has no holiday schedule (shipped or in the hall's `holidays:`):
// its public holidays would count as working days in due dates.
const AlertCalendar = "calendar_uncovered"

// calendarWatch checks the holiday calendar's coverage at start and once
// a local day (from the scheduler's tick, on the injected clock): a Warn
// log line, the hallctl_calendar_covered gauge and a manager alert.
type calendarWatch struct {
	cal     *casesys.Calendar
	loc     *time.Location
	log     *slog.Logger
	covered *prometheus.GaugeVec

	mu      sync.Mutex
	day     string   // local date of the last check
	missing []string // uncovered months (YYYY-MM) at the last check
}

func newCalendarWatch(cal *casesys.Calendar, loc *time.Location, log *slog.Logger, reg prometheus.Registerer) *calendarWatch {
	if loc == nil {
		loc = time.UTC
	}
	w := &calendarWatch{cal: cal, loc: loc, log: log,
		covered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallctl_calendar_covered",
			Help: "1 when the month (current, next) has an official holiday schedule (shipped or the hall's holidays:), else 0."},
			[]string{"month"})}
	reg.MustRegister(w.covered)
	return w
}

// check re-checks coverage when the local day of now is not the last
// checked one.
func (w *calendarWatch) check(now time.Time) {
	local := now.In(w.loc)
	day := local.Format(casesys.DateLayout)
	w.mu.Lock()
	defer w.mu.Unlock()
	if day == w.day {
		return
	}
	w.day = day
	w.missing = w.cal.Uncovered(local)
	cur, next := 1.0, 1.0
	for _, m := range w.missing {
		if m == local.Format("2006-01") {
			cur = 0
		} else {
			next = 0
		}
	}
	w.covered.WithLabelValues("current").Set(cur)
	w.covered.WithLabelValues("next").Set(next)
	if len(w.missing) > 0 {
		w.log.Warn("holiday calendar: no official schedule for these months, their holidays count as working days; upgrade hallctl or list the days in holidays:",
			"months", strings.Join(w.missing, ","), "shipped_years", fmt.Sprint(casesys.ShippedYears()))
	}
}

// alerts is the manager alert while a month is uncovered.
func (w *calendarWatch) alerts() []casesys.Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.missing) == 0 {
		return nil
	}
	return []casesys.Alert{{Kind: AlertCalendar, Severity: "warning", Value: float64(len(w.missing)),
		Message: fmt.Sprintf("节假日日历缺少 %s 的放假安排，承诺件办结日期将按工作日计算：请升级 hallctl 或在 holidays 中列出放假和调休日期",
			strings.Join(w.missing, "、"))}}
}
