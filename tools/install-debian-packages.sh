#!/usr/bin/env bash
# Installs the Debian packages Streetwatch runs against (Mosquitto, InfluxDB 1.x and its `influx`
# shell, Chromium for browser tests) when missing.
# Idempotent; needs root (or sudo). Used by `make demo` and `make test`.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v influx >/dev/null 2>&1 || need+=(influxdb-client)  # the `influx` shell the demo points to
# Headless Chromium for the browser tests (report page, crew console), driven by Playwright from
# PyPI pointed at this binary: Playwright's own browser download cannot run here.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A Chinese font, so the crew console's Chinese labels show (and its screenshots read) in Chromium.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
