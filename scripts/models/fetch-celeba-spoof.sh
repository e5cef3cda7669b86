#!/usr/bin/env bash
# Reproduces models/converted/celebaspoof/ from its public origin: face-antispoof-onnx publishes the
# model as ONNX, so nothing is converted; the file is fetched at a fixed commit and checked against
# the sha256 recorded in provenance.json and models/manifest.json.
#   bash scripts/models/fetch-celeba-spoof.sh [out-dir]   (default: a temporary directory)
set -euo pipefail
REPO=johnraivenolazo/face-antispoof-onnx
COMMIT=2b9830bb0eccafddcf0abcedf5c6ad506f0a1142
SHA256=af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
base="https://raw.githubusercontent.com/$REPO/$COMMIT"
curl -fsSL -o "$out/minifas_celebaspoof.onnx" "$base/models/best/98.20/best_model.onnx"
curl -fsSL -o "$out/LICENSE" "$base/LICENSE"
echo "$SHA256  $out/minifas_celebaspoof.onnx" | sha256sum -c -
cmp "$out/minifas_celebaspoof.onnx" "$(dirname "$0")/../../models/converted/celebaspoof/minifas_celebaspoof.onnx"
echo "matches the committed file: $out/minifas_celebaspoof.onnx"
