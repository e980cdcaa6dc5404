// Package wire is the MQTT contract between firmware-agent and hallctl:
// topic builders and parsers, the message envelopes, the event, command and
// acknowledgement types, and their validation.
//
// Both binaries import it; it imports only the standard library. Everything
// here follows ../shared/DESIGN.md ("MQTT contract"): root hall/v1/<hall>/,
// JSON payloads, QoS 1, ids that are UUIDs (senders make UUIDv7), times in
// RFC 3339 UTC with milliseconds.
package wire
