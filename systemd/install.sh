#!/usr/bin/env bash
# Installs kiosk-agent as a systemd service on Raspberry Pi OS (Bookworm) or a JetPack (Ubuntu) image.
#
#   sudo systemd/install.sh [--device-id KIOSK-0001] [--no-enable] [--source DIR]
#
# Creates the system user kiosk-agent (groups video and gpio), copies the built package from
# --source (default: this checkout; run `npm ci && npm run build` there first) to /usr/lib/kiosk-agent,
# writes /etc/kiosk-agent/{config.json,kiosk-agent.env} when absent, installs the two units and
# enables them. Idempotent: run it again to upgrade (config and state are kept).
set -euo pipefail

PREFIX=/usr/lib/kiosk-agent
ETC=/etc/kiosk-agent
STATE=/var/lib/kiosk-agent
UNIT_DIR=/etc/systemd/system
SOURCE="$(cd "$(dirname "$0")/.." && pwd)"
DEVICE_ID=""
ENABLE=1

while [ $# -gt 0 ]; do
  case "$1" in
    --device-id) DEVICE_ID="$2"; shift 2 ;;
    --no-enable) ENABLE=0; shift ;;
    --source) SOURCE="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
command -v node >/dev/null || { echo "install.sh: node (>= 20) is not installed" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "install.sh: systemd is required" >&2; exit 1; }
[ -f "$SOURCE/dist/agent/cli/main.js" ] || { echo "install.sh: $SOURCE/dist is missing: run 'npm ci && npm run build' first" >&2; exit 1; }

# Groups: video exists on every Debian; gpio exists on Raspberry Pi OS (udev gives it /dev/gpiochip*
# and /sys/class/gpio); on a Jetson it is created here and needs a udev rule (see docs/device.md).
for g in video gpio; do getent group "$g" >/dev/null || groupadd --system "$g"; done
if ! id kiosk-agent >/dev/null 2>&1; then
  useradd --system --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin --user-group kiosk-agent
fi
usermod --append --groups video,gpio kiosk-agent

# The package: dist, models, production node_modules; owned by root, read-only to the service.
install -d -m 0755 "$PREFIX" "$PREFIX/bin"
for item in package.json package-lock.json dist models node_modules scripts systemd; do
  [ -e "$SOURCE/$item" ] || continue
  rm -rf "${PREFIX:?}/$item"
  cp -a "$SOURCE/$item" "$PREFIX/$item"
done
chown -R root:root "$PREFIX"
chmod 0755 "$PREFIX/dist/agent/cli/main.js"
ln -sfn "$PREFIX/dist/agent/cli/main.js" "$PREFIX/bin/kiosk-agent"
# The launcher the unit runs: the current release of a fleet update, else this one.
install -m 0755 "$SOURCE/systemd/kiosk-agent-exec" "$PREFIX/bin/kiosk-agent-exec"
ln -sfn "$PREFIX/bin/kiosk-agent" /usr/local/bin/kiosk-agent

# Configuration: never overwritten.
install -d -m 0750 -o root -g kiosk-agent "$ETC"
if [ ! -f "$ETC/kiosk-agent.env" ]; then
  umask 027
  cat > "$ETC/kiosk-agent.env" <<ENV
# Read by kiosk-agent.service and kiosk-agent-provision.service.
KIOSK_DEVICE_ID=${DEVICE_ID:-CHANGE-ME}
# Extra arguments for 'kiosk-agent provision', e.g. a TPM or HSM key:
# KIOSK_PROVISION_ARGS=--pkcs11-module /usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so --token kiosk
# KIOSK_PKCS11_PIN=
ENV
  chgrp kiosk-agent "$ETC/kiosk-agent.env"
fi
if [ ! -f "$ETC/config.json" ]; then
  echo '{}' > "$ETC/config.json"
  chgrp kiosk-agent "$ETC/config.json"; chmod 0640 "$ETC/config.json"
fi
install -d -m 0700 -o kiosk-agent -g kiosk-agent "$STATE"

install -m 0644 "$SOURCE/systemd/kiosk-agent.service" "$UNIT_DIR/kiosk-agent.service"
install -m 0644 "$SOURCE/systemd/kiosk-agent-provision.service" "$UNIT_DIR/kiosk-agent-provision.service"
systemctl daemon-reload
if [ "$ENABLE" -eq 1 ]; then
  systemctl enable kiosk-agent-provision.service kiosk-agent.service
fi

echo "installed to $PREFIX; configure $ETC/config.json and $ETC/kiosk-agent.env, then:"
echo "  sudo systemctl start kiosk-agent-provision.service   # writes $STATE/device.csr"
echo "  sudo systemctl start kiosk-agent.service"
