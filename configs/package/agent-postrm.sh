#!/bin/sh
# postrm of servicehall-agent: on purge only, the agent's state
# (/var/lib/firmware-agent: outbox, command ledger), its MQTT password and
# its enablement go; the system user and the gpio group stay.
set -e
ROOT="${DPKG_ROOT:-}"
case "$1" in
purge)
	rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/servicehall-agent.service"
	rm -rf "$ROOT/var/lib/firmware-agent"
	rm -f "$ROOT/etc/servicehall/agent.password"
	rmdir "$ROOT/etc/servicehall" 2>/dev/null || true
	;;
esac
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
