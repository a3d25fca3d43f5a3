#!/bin/sh
# The system packages some tests drive, which pip cannot install: Debian's chromium (the browser
# tests, through Playwright) and pgbouncer (tests/test_postgres_pgbouncer.py puts it in front of
# a test server). Installs those that are missing (root, or sudo); does nothing when both are
# there. The package lists are refreshed only when apt does not know a package, or an install
# from the lists it has fails (lists gone stale on a long-lived machine).
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/pgbouncer ] || missing="$missing pgbouncer"
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
known=yes
for package in $missing; do
    apt-cache show "$package" >/dev/null 2>&1 || known=no
done
if [ "$known" = yes ] && $sudo apt-get install -y -qq $missing >/dev/null 2>&1; then
    exit 0
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq $missing
