package broker

import "github.com/prometheus/client_golang/prometheus"

var (
	descRejected = prometheus.NewDesc("servicehall_mqtt_rejected_total",
		"MQTT connections, publishes and subscriptions refused by the embedded broker, by reason.",
		[]string{"reason"}, nil)
	descClients = prometheus.NewDesc("servicehall_mqtt_clients",
		"MQTT clients connected to the embedded broker.", nil, nil)
)

// Collector exposes Stats to Prometheus:
// servicehall_mqtt_rejected_total{reason="auth_failed"|"acl_denied"} and
// servicehall_mqtt_clients. Register it once: reg.MustRegister(b.Collector()).
func (b *Broker) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Broker }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRejected
	ch <- descClients
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.AuthFailed), ReasonAuthFailed)
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.ACLDenied), ReasonACLDenied)
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(s.Clients))
}

var _ prometheus.Collector = collector{}
