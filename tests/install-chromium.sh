#!/bin/sh
# The browser tests (tests/test_serve_browser.py) drive Debian's chromium through Playwright;
# a fresh machine lacks it. Installs it when /usr/bin/chromium is missing (root, or sudo).
set -eu
[ -x /usr/bin/chromium ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
