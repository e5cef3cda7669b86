#!/usr/bin/env python3
"""Converts the two MiniFASNet presentation-attack models of Silent-Face-Anti-Spoofing
(minivision-ai, Apache-2.0) from PyTorch to ONNX, and records what the conversion gave.

Nothing of that repository is copied into ours: this script imports the network definition from a
checkout of it given on the command line (pinned below by commit and by the sha256 of each weight
file), exports ONNX, and writes the PyTorch logits of fixed, formula-defined inputs next to each
model, so that the ONNX file can be checked against PyTorch anywhere (`check-silent-face.ts`, and a
unit test that runs on every CI).

    git clone https://github.com/minivision-ai/Silent-Face-Anti-Spoofing /tmp/sf
    git -C /tmp/sf checkout b6d5f04ad78778917853b25c778acef6d5626d15
    /usr/bin/python3 scripts/models/convert-silent-face.py --source /tmp/sf --out models/converted/silentface

Needs Debian's python3-torch (1.13) and python3-onnx; CPU only.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

from conversion_common import check_pattern, sha256

COMMIT = "b6d5f04ad78778917853b25c778acef6d5626d15"
REPOSITORY = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
# file in the repository -> (our id, network factory name, sha256 of the original .pth)
MODELS = [
    ("resources/anti_spoof_models/2.7_80x80_MiniFASNetV2.pth", "minifasnet_v2", "MiniFASNetV2",
     "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0"),
    ("resources/anti_spoof_models/4_0_0_80x80_MiniFASNetV1SE.pth", "minifasnet_v1se", "MiniFASNetV1SE",
     "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990"),
]
SIZE = 80
OPSET = 13
CHECK_INPUTS = 4


def check_input(k):
    """Input k of the check: the shared pattern over 0..255 (conversion_common.check_pattern), which the
    TypeScript side computes identically (scripts/models/check-inputs.ts)."""
    return check_pattern(k, SIZE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="checkout of Silent-Face-Anti-Spoofing at commit " + COMMIT)
    ap.add_argument("--out", required=True, help="output folder (models/converted/silentface)")
    args = ap.parse_args()

    import numpy as np
    import onnx
    import torch

    sys.path.insert(0, os.path.abspath(args.source))
    from src.model_lib import MiniFASNet as net  # the network definition, from the checkout

    os.makedirs(args.out, exist_ok=True)
    provenance = []
    for rel, ident, factory, expected in MODELS:
        pth = os.path.join(args.source, rel)
        digest = sha256(pth)
        if digest != expected:
            sys.exit(f"{rel}: sha256 {digest} is not the pinned {expected}")
        model = getattr(net, factory)(conv6_kernel=((SIZE + 15) // 16, (SIZE + 15) // 16))
        state = torch.load(pth, map_location="cpu")
        state = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state.items())
        model.load_state_dict(state)
        model.eval()

        onnx_path = os.path.join(args.out, f"{ident}.onnx")
        dummy = torch.zeros(1, 3, SIZE, SIZE)
        torch.onnx.export(model, dummy, onnx_path, input_names=["input"], output_names=["logits"],
                          opset_version=OPSET, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(onnx_path))

        checks = []
        with torch.no_grad():
            for k in range(CHECK_INPUTS):
                x = torch.tensor(np.array(check_input(k), dtype=np.float32).reshape(1, 3, SIZE, SIZE))
                checks.append([float(v) for v in model(x)[0]])
        with open(os.path.join(args.out, f"{ident}.check.json"), "w") as f:
            json.dump({"model": f"{ident}.onnx", "input": "scripts/models/silent-face-check.ts checkInput(k)",
                       "torch_logits": checks}, f, indent=1)
        provenance.append({
            "id": ident,
            "file": f"{ident}.onnx",
            "sha256": sha256(onnx_path),
            "bytes": os.path.getsize(onnx_path),
            "original": {"repository": REPOSITORY, "commit": COMMIT, "path": rel, "sha256": digest,
                         "bytes": os.path.getsize(pth)},
            "converter": {"script": "scripts/models/convert-silent-face.py", "torch": torch.__version__,
                          "onnx": onnx.__version__, "opset": OPSET},
        })
        print(f"{rel} -> {onnx_path}")
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)


if __name__ == "__main__":
    main()
