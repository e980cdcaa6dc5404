package broker

import "github.com/prometheus/client_golang/prometheus"

var (
	descRejected = prometheus.NewDesc("servicehall_mqtt_rejected_total",
		"MQTT connections, publishes and subscriptions refused, and clients disconnected, by the embedded broker, by reason.",
		[]string{"reason"}, nil)
	descClients = prometheus.NewDesc("servicehall_mqtt_clients",
		"MQTT clients connected to the embedded broker.", nil, nil)
	descAcceptErrors = prometheus.NewDesc("servicehall_mqtt_accept_errors_total",
		"Failed accepts on the embedded broker's listener (retried with a back-off).", nil, nil)
	descLogSuppressed = prometheus.NewDesc("servicehall_mqtt_log_suppressed_total",
		"Embedded broker log lines dropped by its rate limit.", nil, nil)
)

// Collector exposes Stats to Prometheus:
// servicehall_mqtt_rejected_total{reason=…} (one series per Reason…
// constant), servicehall_mqtt_clients, servicehall_mqtt_accept_errors_total
// and servicehall_mqtt_log_suppressed_total. Register it once:
// reg.MustRegister(b.Collector()).
func (b *Broker) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Broker }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRejected
	ch <- descClients
	ch <- descAcceptErrors
	ch <- descLogSuppressed
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.Rejected[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(s.Clients))
	ch <- prometheus.MustNewConstMetric(descAcceptErrors, prometheus.CounterValue, float64(s.AcceptErrors))
	ch <- prometheus.MustNewConstMetric(descLogSuppressed, prometheus.CounterValue, float64(s.LogSuppressed))
}

var _ prometheus.Collector = collector{}
