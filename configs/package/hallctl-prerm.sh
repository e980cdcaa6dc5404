#!/bin/sh
# prerm of servicehall-hallctl: stop the controller before its removal (an
# upgrade leaves it running; the new postinst restarts it).
set -e
case "$1" in
remove | deconfigure)
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl stop servicehall-hallctl.service || true
	fi
	;;
esac
exit 0
