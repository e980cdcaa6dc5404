package config

// Limits bound every resource an outsider can consume (the `limits:`
// section, docs/security.md). The zero value of a field takes its default
// from DefaultLimits: safe limits are on unless the config raises them;
// load benchmarks raise them explicitly. A client over a limit is refused
// (HTTP 429 or 503, MQTT disconnect) and counted, and everyone else is
// served.
type Limits struct {
	// HTTP connections: at most HTTPConns open at once, HTTPConnsPerIP
	// from one address; websocket streams at most Websockets in all and
	// WebsocketsPerIP per address for anonymous clients (the hall screen),
	// as many per token subject for clients with a token or staff session
	// (a clerk's browsers behind one address are not each other's limit).
	// Every stream costs the controller a write per hall event, so the
	// anonymous default is small.
	HTTPConns       int `yaml:"http_conns,omitempty"`
	HTTPConnsPerIP  int `yaml:"http_conns_per_ip,omitempty"`
	Websockets      int `yaml:"websockets,omitempty"`
	WebsocketsPerIP int `yaml:"websockets_per_ip,omitempty"`
	// HTTP timeouts in seconds: a request's header, its whole body, the
	// answer, and an idle keep-alive connection.
	HTTPReadHeaderTimeoutS int `yaml:"http_read_header_timeout_s,omitempty"`
	HTTPReadTimeoutS       int `yaml:"http_read_timeout_s,omitempty"`
	HTTPWriteTimeoutS      int `yaml:"http_write_timeout_s,omitempty"`
	HTTPIdleTimeoutS       int `yaml:"http_idle_timeout_s,omitempty"`
	// PublicPerMin is each client address's budget of requests a minute on
	// the public (unauthenticated) routes, PublicBurst how many may come at
	// once; over it: 429 with Retry-After.
	PublicPerMin int `yaml:"public_per_min,omitempty"`
	PublicBurst  int `yaml:"public_burst,omitempty"`
	// RefusalDelayMS holds a public request refused for its client's rate
	// (429 rate_limited) this long — at most until the Retry-After time —
	// before the answer goes out: a client that ignores Retry-After and
	// asks again at once costs the hall one answer a second per
	// connection instead of thousands (bounded by http_conns_per_ip).
	RefusalDelayMS int `yaml:"refusal_delay_ms,omitempty"`
	// TicketsPerClientPerMin bounds ticket issue per kiosk or client
	// address (HTTP) and per dispenser (MQTT press); TicketsPerItemPerDay
	// is the daily cap of tickets of one item.
	TicketsPerClientPerMin int `yaml:"tickets_per_client_per_min,omitempty"`
	TicketsPerItemPerDay   int `yaml:"tickets_per_item_per_day,omitempty"`
	// LookupsPerMin bounds case and ticket look-ups per client address
	// (each failed check counts).
	LookupsPerMin int `yaml:"lookups_per_min,omitempty"`
	// MQTT: the largest packet a client may send (bytes), QoS 1 messages
	// in flight to one client, clients connected at once, topics and
	// retained bytes one agent may hold, failed logins per address a
	// minute, and how far an event's ts may lie in the future or past.
	MQTTMaxPacketBytes        int `yaml:"mqtt_max_packet_bytes,omitempty"`
	MQTTInflight              int `yaml:"mqtt_inflight,omitempty"`
	MQTTClients               int `yaml:"mqtt_clients,omitempty"`
	MQTTTopicsPerAgent        int `yaml:"mqtt_topics_per_agent,omitempty"`
	MQTTRetainedBytesPerAgent int `yaml:"mqtt_retained_bytes_per_agent,omitempty"`
	MQTTAuthFailuresPerMin    int `yaml:"mqtt_auth_failures_per_min,omitempty"`
	// MQTTPublishesPerS and MQTTPublishBurst bound each agent's publishes;
	// a flooding agent is disconnected.
	MQTTPublishesPerS int `yaml:"mqtt_publishes_per_s,omitempty"`
	MQTTPublishBurst  int `yaml:"mqtt_publish_burst,omitempty"`
	EventFutureS      int `yaml:"event_future_s,omitempty"`
	EventPastS        int `yaml:"event_past_s,omitempty"`
	// RegistryDevices bounds the device registry (devices of all agents).
	RegistryDevices int `yaml:"registry_devices,omitempty"`
	// AgentDevices bounds the devices of one agent in the registry.
	AgentDevices int `yaml:"agent_devices,omitempty"`
	// MetricLabelValues bounds the values one metric label may take; the
	// rest are counted under "other".
	MetricLabelValues int `yaml:"metric_label_values,omitempty"`
	// LogLinesPerS and LogBurst bound log output; suppressed lines are
	// counted and summarised.
	LogLinesPerS int `yaml:"log_lines_per_s,omitempty"`
	LogBurst     int `yaml:"log_burst,omitempty"`
}

// DefaultLimits are the limits a config gets for the fields it leaves
// out: a city hall's busiest day (4,000+ tickets, 36 departments, a few
// hundred devices) fits well inside them.
var DefaultLimits = Limits{
	HTTPConns:                 1024,
	HTTPConnsPerIP:            64,
	Websockets:                512,
	WebsocketsPerIP:           4,
	HTTPReadHeaderTimeoutS:    5,
	HTTPReadTimeoutS:          15,
	HTTPWriteTimeoutS:         30,
	HTTPIdleTimeoutS:          60,
	PublicPerMin:              300,
	PublicBurst:               60,
	RefusalDelayMS:            1000,
	TicketsPerClientPerMin:    30,
	TicketsPerItemPerDay:      3000,
	LookupsPerMin:             20,
	MQTTMaxPacketBytes:        256 << 10, // above wire.MaxPayload: oversize payloads reach the controller, which refuses them with a reason
	MQTTInflight:              64,
	MQTTClients:               512,
	MQTTTopicsPerAgent:        256,
	MQTTRetainedBytesPerAgent: 1 << 20,
	MQTTAuthFailuresPerMin:    10,
	MQTTPublishesPerS:         100,
	MQTTPublishBurst:          1000,
	EventFutureS:              300,
	EventPastS:                86400,
	RegistryDevices:           4096,
	AgentDevices:              128,
	MetricLabelValues:         256,
	LogLinesPerS:              200,
	LogBurst:                  2000,
}

// applyDefaults fills every zero field from DefaultLimits.
func (l *Limits) applyDefaults() {
	d := DefaultLimits
	fill := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&l.HTTPConns, d.HTTPConns)
	fill(&l.HTTPConnsPerIP, d.HTTPConnsPerIP)
	fill(&l.Websockets, d.Websockets)
	fill(&l.WebsocketsPerIP, d.WebsocketsPerIP)
	fill(&l.HTTPReadHeaderTimeoutS, d.HTTPReadHeaderTimeoutS)
	fill(&l.HTTPReadTimeoutS, d.HTTPReadTimeoutS)
	fill(&l.HTTPWriteTimeoutS, d.HTTPWriteTimeoutS)
	fill(&l.HTTPIdleTimeoutS, d.HTTPIdleTimeoutS)
	fill(&l.PublicPerMin, d.PublicPerMin)
	fill(&l.PublicBurst, d.PublicBurst)
	fill(&l.RefusalDelayMS, d.RefusalDelayMS)
	fill(&l.TicketsPerClientPerMin, d.TicketsPerClientPerMin)
	fill(&l.TicketsPerItemPerDay, d.TicketsPerItemPerDay)
	fill(&l.LookupsPerMin, d.LookupsPerMin)
	fill(&l.MQTTMaxPacketBytes, d.MQTTMaxPacketBytes)
	fill(&l.MQTTInflight, d.MQTTInflight)
	fill(&l.MQTTClients, d.MQTTClients)
	fill(&l.MQTTTopicsPerAgent, d.MQTTTopicsPerAgent)
	fill(&l.MQTTRetainedBytesPerAgent, d.MQTTRetainedBytesPerAgent)
	fill(&l.MQTTAuthFailuresPerMin, d.MQTTAuthFailuresPerMin)
	fill(&l.MQTTPublishesPerS, d.MQTTPublishesPerS)
	fill(&l.MQTTPublishBurst, d.MQTTPublishBurst)
	fill(&l.EventFutureS, d.EventFutureS)
	fill(&l.EventPastS, d.EventPastS)
	fill(&l.RegistryDevices, d.RegistryDevices)
	fill(&l.AgentDevices, d.AgentDevices)
	fill(&l.MetricLabelValues, d.MetricLabelValues)
	fill(&l.LogLinesPerS, d.LogLinesPerS)
	fill(&l.LogBurst, d.LogBurst)
}

// problems refuses negative limits (0 means the default).
func (l Limits) problems(add func(key, format string, args ...any)) {
	for _, f := range []struct {
		key string
		v   int
	}{
		{"http_conns", l.HTTPConns}, {"http_conns_per_ip", l.HTTPConnsPerIP}, {"refusal_delay_ms", l.RefusalDelayMS},
		{"websockets", l.Websockets}, {"websockets_per_ip", l.WebsocketsPerIP},
		{"http_read_header_timeout_s", l.HTTPReadHeaderTimeoutS}, {"http_read_timeout_s", l.HTTPReadTimeoutS},
		{"http_write_timeout_s", l.HTTPWriteTimeoutS}, {"http_idle_timeout_s", l.HTTPIdleTimeoutS},
		{"public_per_min", l.PublicPerMin}, {"public_burst", l.PublicBurst},
		{"tickets_per_client_per_min", l.TicketsPerClientPerMin}, {"tickets_per_item_per_day", l.TicketsPerItemPerDay},
		{"lookups_per_min", l.LookupsPerMin},
		{"mqtt_max_packet_bytes", l.MQTTMaxPacketBytes}, {"mqtt_inflight", l.MQTTInflight},
		{"mqtt_clients", l.MQTTClients}, {"mqtt_topics_per_agent", l.MQTTTopicsPerAgent},
		{"mqtt_retained_bytes_per_agent", l.MQTTRetainedBytesPerAgent},
		{"mqtt_auth_failures_per_min", l.MQTTAuthFailuresPerMin},
		{"mqtt_publishes_per_s", l.MQTTPublishesPerS}, {"mqtt_publish_burst", l.MQTTPublishBurst},
		{"event_future_s", l.EventFutureS}, {"event_past_s", l.EventPastS},
		{"registry_devices", l.RegistryDevices}, {"agent_devices", l.AgentDevices}, {"metric_label_values", l.MetricLabelValues},
		{"log_lines_per_s", l.LogLinesPerS}, {"log_burst", l.LogBurst},
	} {
		if f.v < 0 {
			add("limits."+f.key, "%d must not be negative (leave it out for the default)", f.v)
		}
	}
	if l.MQTTMaxPacketBytes > 0 && l.MQTTMaxPacketBytes < 1024 {
		add("limits.mqtt_max_packet_bytes", "%d is too small for an agent's info (at least 1024)", l.MQTTMaxPacketBytes)
	}
}
