#!/bin/sh
# Opens the customer screen full screen in Chromium, run by kiosk-screen.service (inside cage).
# The page's URL carries the secret its WebSocket needs (agent/screen/server.ts). It comes from the
# agent's 0600 launch file, which systemd hands this service as a credential (LoadCredential), and
# reaches Chromium through a redirect page in this service's private runtime directory: never on a
# command line (/proc/<pid>/cmdline is readable by every local user), never printed.
set -eu
umask 077
src="${CREDENTIALS_DIRECTORY:?run from kiosk-screen.service (LoadCredential=screen-url)}/screen-url"
url=$(head -n 1 "$src")
case "$url" in
  http://127.0.0.1:*/#k=*) ;;
  *)
    echo "kiosk-screen: $src does not hold the customer screen's launch URL" >&2
    exit 1
    ;;
esac
run="${RUNTIME_DIRECTORY:?run from kiosk-screen.service (RuntimeDirectory=kiosk-screen)}"
start="$run/start.html"
printf '<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=%s">\n' "$url" >"$start"
unset url
exec "${KIOSK_BROWSER:-chromium}" --kiosk --app="file://$start" --user-data-dir="$run/profile" \
  --noerrdialogs --disable-infobars --disable-session-crashed-bubble --disable-translate \
  --disable-pinch --overscroll-history-navigation=0 --check-for-update-interval=31536000 \
  --disable-background-networking --disable-component-update --disable-sync --no-first-run \
  --incognito --disk-cache-size=1 --password-store=basic
