#!/bin/sh
# postinst of servicehall-hallctl: the system user servicehall, the hall
# config readable by it, the unit enabled when systemd runs. Idempotent;
# works with `dpkg --root` (DPKG_ROOT: users go into that root's files and
# systemctl is left alone).
set -e

ROOT="${DPKG_ROOT:-}"
SVC_USER=servicehall
UNIT=servicehall-hallctl.service
CONF="$ROOT/etc/servicehall/hall.yaml"

# shadow's tools take --prefix to write another root's passwd and group.
prefix() { if [ -n "$ROOT" ]; then printf '%s\n' "--prefix=$ROOT"; fi; }
has_group() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }
has_user() { grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/group"; }
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

case "$1" in
configure)
	has_group "$SVC_USER" || groupadd $(prefix) --system "$SVC_USER"
	has_user "$SVC_USER" || useradd $(prefix) --system --gid "$SVC_USER" \
		--home-dir /var/lib/hallctl --no-create-home --shell /usr/sbin/nologin \
		--comment "servicehall hall controller" "$SVC_USER"
	# The config may hold staff password hashes: root writes it, the
	# service reads it, nobody else.
	if [ -f "$CONF" ]; then
		chown "0:$(gid_of "$SVC_USER")" "$CONF"
		chmod 0640 "$CONF"
	fi
	if systemd_running; then
		systemctl daemon-reload
		systemctl enable "$UNIT"
		# An upgrade restarts a running controller; a first install waits
		# for the hall's own config (systemctl start servicehall-hallctl).
		systemctl try-restart "$UNIT" || true
	fi
	;;
esac
exit 0
