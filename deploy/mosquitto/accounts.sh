#!/bin/sh
# The broker's entrypoint in docker-compose.yml: writes the service accounts' passwords from the
# environment (.env) into Mosquitto's password file, keeping every other line (the gateways, added
# with mosquitto_passwd, see docs/deploy.md), then runs its arguments (the image's entrypoint and
# Mosquitto). It runs at every start: a password changed in .env applies after a restart.
# The file lives in its own volume and never in the repository: it holds password hashes.
set -eu
passwd_file="${MOSQUITTO_PASSWORD_FILE:-/mosquitto/accounts/passwd}"
: "${MQTT_INGEST_PASSWORD:?is empty: set it in .env}"
: "${MQTT_RULES_PASSWORD:?is empty: set it in .env}"

umask 077
mkdir -p "$(dirname "$passwd_file")"
[ -e "$passwd_file" ] || : >"$passwd_file"
mosquitto_passwd -b "$passwd_file" ingest@streetwatch "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$passwd_file" rules@streetwatch "$MQTT_RULES_PASSWORD"
# The simulate profile's gateways gw1..gw4, only while their password is set.
if [ -n "${SIMULATOR_GATEWAY_PASSWORD:-}" ]; then
    for gateway in gw1 gw2 gw3 gw4; do
        mosquitto_passwd -b "$passwd_file" "$gateway" "$SIMULATOR_GATEWAY_PASSWORD"
    done
fi
# Password hashes: readable by the broker's user only (Mosquitto warns about anything else).
chmod 600 "$passwd_file"
# Mosquitto drops root for user mosquitto (the config's `user`), which must read the file.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto:mosquitto "$(dirname "$passwd_file")"
fi
exec "$@"
