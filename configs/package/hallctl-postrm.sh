#!/bin/sh
# postrm of servicehall-hallctl: on purge only, the controller's state
# (/var/lib/hallctl: event log, hall secret, keys) and its enablement go;
# the system user stays (files elsewhere may still carry its id).
set -e
ROOT="${DPKG_ROOT:-}"
case "$1" in
purge)
	rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/servicehall-hallctl.service"
	rm -rf "$ROOT/var/lib/hallctl"
	rmdir "$ROOT/etc/servicehall" 2>/dev/null || true
	;;
esac
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
