#!/usr/bin/env bash
# Renders the --report pages of the black-holed peer and the stopped reader
# samples with headless chromium into docs/report-*.png (the README shows
# them). Run from anywhere: cargo builds wspulse first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/wspulse"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "make-screenshots: chromium is needed (apt-get install chromium)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for sample in blackhole-peer stopped-reader; do
  page="$work/$sample.html"
  # A fixed key, so the page (and the picture) is the same on every run.
  "$bin" analyze --redact-key docs --report "$page" "samples/$sample.pcap" >/dev/null 2>&1
  "$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --host-resolver-rules='MAP * ~NOTFOUND' --window-size=1180,1000 \
    --screenshot="docs/report-$sample.png" "file://$page" >/dev/null 2>&1
  echo "docs/report-$sample.png"
done
