// Package casesys feeds what the hall's devices learn back into the case
// system (办件系统) and out to self-service terminals:
//
//   - serial numbers (统一业务流水号) at acceptance, due dates of promised
//     items in working days (Calendar), and the acceptance receipt;
//   - the connector: an outbox in the event store that delivers case
//     events to an external case system over signed HTTP webhooks, in
//     order per case, with retries, a dead-letter list and resume after
//     restart (Outbox);
//   - the inbound API for case status pushes and kiosk progress look-ups,
//     over a built-in case registry that serves a hall with no external
//     system (NewAPI, Registry);
//   - the 好差评 follow-up list and the 电子监察 alerts, pure functions of
//     the log (Ledger, FollowUps, Alerts) with a Prometheus collector
//     (Monitor).
//
// See docs/casesys.md for formats, headers and configuration keys.
package casesys
