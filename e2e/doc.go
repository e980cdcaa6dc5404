// Package e2e holds end-to-end tests that run hallctl and firmware-agent
// together over a real MQTT broker: broker outages, controller restarts,
// and (with the built binaries) the agent against the device emulators.
package e2e
