package ctl

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servicehall/servicehall/hallctl/config"
)

type metrics struct {
	rejected  *prometheus.CounterVec
	dups      prometheus.Counter
	commands  *prometheus.CounterVec
	events    *prometheus.CounterVec
	tickets   *prometheus.CounterVec
	actions   *prometheus.CounterVec
	connected prometheus.Gauge
	ratings   *prometheus.CounterVec
	// ratingsRefused counts ratings refused for their reasons or comment
	// (issue 14), by code.
	ratingsRefused *prometheus.CounterVec
	units          prometheus.Counter
	unprinted      prometheus.Counter
	healthy        prometheus.Gauge
	// Bounded label values (labels.go): what devices and clerks send
	// never grows /metrics past limits.metric_label_values per label.
	kinds, reasons, names, statuses, types, items, codes *labelSet
}

// boundLabels sets the bound of every input-fed label.
func (m *metrics) boundLabels(max int) {
	for _, s := range []**labelSet{&m.kinds, &m.reasons, &m.names, &m.statuses, &m.types, &m.items, &m.codes} {
		*s = newLabelSet(max)
	}
}

func newMetrics(r *prometheus.Registry) *metrics {
	m := &metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_rejected_messages_total",
			Help: "MQTT messages refused, by message kind and reason."}, []string{"kind", "reason"}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallctl_duplicate_events_total",
			Help: "Device events dropped because their id was already handled."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_commands_total",
			Help: "Command outcomes by command name and ack status (lost = no ack after retries; expired = its TTL passed unanswered). A command given up on whose ack arrives later counts again, with that ack's status."}, []string{"name", "status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_events_total",
			Help: "Device events handled, by type."}, []string{"type"}),
		tickets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_tickets_issued_total",
			Help: "Tickets issued, by item."}, []string{"item"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_window_actions_total",
			Help: "Window actions by action and result code (empty = ok)."}, []string{"action", "code"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hallctl_broker_connected",
			Help: "1 while the controller is connected to the MQTT broker."}),
		ratings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_ratings_total",
			Help: "好差评 ratings by level (1 非常不满意 … 5 非常满意)."}, []string{"level"}),
		ratingsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_ratings_refused_total",
			Help: "Ratings refused for a bad reason code or comment (bad_reason) or as a second rating of a case by the same applicant (already_rated_case)."}, []string{"code"}),
		units: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallctl_units_committed_total",
			Help: "Units of work made durable (several share one transaction under load; see servicehall_eventlog_transactions_total)."}),
		unprinted: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallctl_tickets_unprinted_total",
			Help: "Ticket prints that failed or got no answer (the ticket is offered a reprint)."}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hallctl_healthy",
			Help: "1 while the controller can record changes; 0 after a fatal error (it is stopping)."}),
	}
	m.healthy.Set(1)
	m.boundLabels(config.DefaultLimits.MetricLabelValues)
	r.MustRegister(m.units, m.unprinted, m.healthy, m.rejected, m.dups, m.commands, m.events, m.tickets, m.actions, m.connected, m.ratings, m.ratingsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) Rejected(kind, reason string) {
	m.rejected.WithLabelValues(m.kinds.value(kind), m.reasons.value(reason)).Inc()
}
func (m *metrics) Duplicate() { m.dups.Inc() }
func (m *metrics) CommandOutcome(name, status string) {
	m.commands.WithLabelValues(m.names.value(name), m.statuses.value(status)).Inc()
}
func (m *metrics) EventHandled(typ string) { m.events.WithLabelValues(m.types.value(typ)).Inc() }

func (c *Controller) httpHandler() http.Handler {
	mux := c.o.Mux
	if mux == nil {
		mux = http.NewServeMux()
	}
	mux.HandleFunc("GET /healthz", c.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.o.Registry, promhttp.HandlerOpts{}))
	return mux
}

func (c *Controller) healthz(w http.ResponseWriter, _ *http.Request) {
	connected := c.client != nil && c.client.IsConnectionOpen()
	agents, online := 0, 0
	for _, a := range c.bus.Agents() {
		agents++
		if a.Online {
			online++
		}
	}
	body := map[string]any{"status": "ok", "hall": c.cfg.Hall.ID, "broker_connected": connected, "agents": agents, "agents_online": online}
	code := http.StatusOK
	if !connected {
		body["status"] = "degraded"
		code = http.StatusServiceUnavailable
	}
	if err := c.failure(); err != nil {
		body["status"] = "failed"
		body["error"] = err.Error()
		code = http.StatusServiceUnavailable
	} else if err := c.store.Check(); err != nil {
		c.fatal(fmt.Errorf("event log: %w", err))
		body["status"] = "failed"
		body["error"] = err.Error()
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
