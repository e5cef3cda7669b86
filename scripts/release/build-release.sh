#!/usr/bin/env bash
# Builds the agent's Debian package from a clean checkout of one commit, reproducibly:
#
#   scripts/release/build-release.sh --version <int> --out <dir> [--commit <rev>, default HEAD] [--arch <debian arch>]
#
# git clone of the commit into a temp dir, npm ci (its postinstall fetches and checks the model files),
# npm run build, npm prune --omit=dev, then the app tree is assembled and packed by pack-deb.ts (from
# this checkout, so a packer fix applies to older commits too). SOURCE_DATE_EPOCH is the commit's time
# unless set, so two builds of one commit on one machine type give the same sha256. Network: the npm
# registry only. Prints pack-deb's JSON line {path, sha256, size}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
commit=HEAD version='' out='' arch=''
while [ $# -gt 0 ]; do
  case "$1" in
    --commit) commit="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    *) echo "usage: $0 --version <int> --out <dir> [--commit <rev>] [--arch <arch>]" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] && [ -n "$out" ] || { echo "--version and --out are required" >&2; exit 2; }
sha=$(git -C "$repo" rev-parse --verify "$commit^{commit}")
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct "$sha")}"
export TZ=UTC LC_ALL=C
umask 022

# A fixed path per commit: native modules (node-gyp) record absolute build paths in their outputs.
work="${TMPDIR:-/tmp}/kiosk-release-$sha"
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
src="$work/src" app="$work/app"
echo "[release] $sha (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH) in $work" >&2
git clone --quiet --no-hardlinks "$repo" "$src" >&2
git -C "$src" checkout --quiet --detach "$sha" >&2
(
  cd "$src"
  npm ci --no-audit --no-fund >&2
  npm run build >&2
  npm prune --omit=dev --no-audit --no-fund >&2
)

mkdir -p "$app/bin" "$app/models" "$app/agent/screen"
cp -a "$src/dist" "$src/node_modules" "$src/package.json" "$app/"
cp -a "$src/models/manifest.json" "$app/models/"
for d in converted files; do [ -d "$src/models/$d" ] && cp -a "$src/models/$d" "$app/models/"; done
[ -d "$src/agent/screen/public" ] && cp -a "$src/agent/screen/public" "$app/agent/screen/"
# node-gyp's intermediate objects and dependency files are not needed at run time (only build/Release/*.node).
find "$app/node_modules" -type d \( -name obj.target -o -name .deps \) -path '*/build/*' -prune -exec rm -rf {} +
cat > "$app/bin/kiosk-agent" <<'LAUNCHER'
#!/bin/sh
# kiosk-agent launcher: runs the agent of the app tree this file is in.
app="$(dirname "$(readlink -f "$0")")/.."
exec node "$app/dist/agent/cli/main.js" "$@"
LAUNCHER
chmod 0755 "$app/bin/kiosk-agent"
if [ -f "$src/systemd/kiosk-agent-exec" ]; then install -m 0755 "$src/systemd/kiosk-agent-exec" "$app/bin/kiosk-agent-exec"; fi

args=(--app "$app" --version "$version" --out "$out" --units "$src/systemd")
[ -n "$arch" ] && args+=(--arch "$arch")
cd "$repo" && npx --no-install tsx "$here/pack-deb.ts" "${args[@]}"
