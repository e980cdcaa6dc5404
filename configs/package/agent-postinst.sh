#!/bin/sh
# postinst of servicehall-agent: the system user servicehall-agent, the gpio
# group its unit needs, this board's own MQTT password (made once, 0600,
# owned by the service user), the agent config readable by it, the unit
# enabled when systemd runs. Idempotent; works with `dpkg --root`
# (DPKG_ROOT: users go into that root's files and systemctl is left alone).
set -e

ROOT="${DPKG_ROOT:-}"
SVC_USER=servicehall-agent
UNIT=servicehall-agent.service
CONF="$ROOT/etc/servicehall/agent.yaml"
PASSWORD="$ROOT/etc/servicehall/agent.password"

prefix() { if [ -n "$ROOT" ]; then printf '%s\n' "--prefix=$ROOT"; fi; }
has_group() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }
has_user() { grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null; }
uid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/group"; }
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

case "$1" in
configure)
	# The unit's SupplementaryGroups: dialout and audio come with Debian,
	# gpio (the package's udev rule gives it /dev/gpiochip*) may not.
	for g in gpio dialout audio; do
		has_group "$g" || groupadd $(prefix) --system "$g"
	done
	has_group "$SVC_USER" || groupadd $(prefix) --system "$SVC_USER"
	has_user "$SVC_USER" || useradd $(prefix) --system --gid "$SVC_USER" \
		--home-dir /var/lib/firmware-agent --no-create-home --shell /usr/sbin/nologin \
		--comment "servicehall firmware-agent" "$SVC_USER"
	uid=$(uid_of "$SVC_USER")
	gid=$(gid_of "$SVC_USER")
	if [ ! -s "$PASSWORD" ]; then
		(umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$PASSWORD" && echo >>"$PASSWORD")
	fi
	chown "$uid:$gid" "$PASSWORD"
	chmod 0600 "$PASSWORD"
	if [ -f "$CONF" ]; then
		chown "0:$gid" "$CONF"
		chmod 0640 "$CONF"
	fi
	if systemd_running; then
		udevadm control --reload-rules 2>/dev/null || true
		udevadm trigger --subsystem-match=gpio 2>/dev/null || true
		systemctl daemon-reload
		systemctl enable "$UNIT"
		# An upgrade restarts a running agent; a first install waits for the
		# board's own config (systemctl start servicehall-agent).
		systemctl try-restart "$UNIT" || true
	fi
	;;
esac
exit 0
