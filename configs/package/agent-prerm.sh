#!/bin/sh
# prerm of servicehall-agent: stop the agent before its removal (an upgrade
# leaves it running; the new postinst restarts it).
set -e
case "$1" in
remove | deconfigure)
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl stop servicehall-agent.service || true
	fi
	;;
esac
exit 0
