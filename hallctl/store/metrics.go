package store

import "github.com/prometheus/client_golang/prometheus"

var (
	descRecords = prometheus.NewDesc("servicehall_eventlog_records_total", "Records appended to the event log.", nil, nil)
	descCommits = prometheus.NewDesc("servicehall_eventlog_commits_total", "Successful writes (appends, puts, deletes, snapshots) to the event log.", nil, nil)
	descTxs     = prometheus.NewDesc("servicehall_eventlog_transactions_total", "Durable transactions (fsyncs) of the event log; several commits share one under load.", nil, nil)
	descFailed  = prometheus.NewDesc("servicehall_eventlog_failed_total", "Writes to the event log that returned an error (duplicate keys included).", nil, nil)
)

// Collector exposes Stats to Prometheus. Register it once: reg.MustRegister(l.Collector()).
func (l *Log) Collector() prometheus.Collector { return collector{l} }

type collector struct{ l interface{ Stats() Stats } }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRecords
	ch <- descCommits
	ch <- descTxs
	ch <- descFailed
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(s.Records))
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(s.Commits))
	ch <- prometheus.MustNewConstMetric(descTxs, prometheus.CounterValue, float64(s.Transactions))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(s.Failed))
}

var _ prometheus.Collector = collector{}
