#!/usr/bin/env python3
"""Copies PAD models with one more graph output: the embedding their last classifier layer reads.

Diagnostic only (probe.ts; README, "Presentation-attack models"): the kiosk never
runs these copies. Needs Debian's python3-onnx (run it with /usr/bin/python3).

    /usr/bin/python3 scripts/dev/pad-probe/expose.py OUT_DIR id=path.onnx [id=path.onnx ...]

writes OUT_DIR/<id>.onnx with outputs [<the model's own>, <embedding>].
"""
import os
import sys

import onnx
from onnx import TensorProto, helper


def expose(src: str, dst: str) -> str:
    model = onnx.load(src)
    classifiers = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    if not classifiers:
        sys.exit(f"{src}: no MatMul/Gemm node: not a classifier this script knows")
    embedding = classifiers[-1].input[0]
    model.graph.output.append(helper.make_tensor_value_info(embedding, TensorProto.FLOAT, None))
    onnx.save(model, dst)
    return embedding


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for pair in sys.argv[2:]:
        model_id, _, path = pair.partition("=")
        if not path:
            sys.exit(f"expected id=path.onnx, got {pair!r}")
        name = expose(path, os.path.join(out, f"{model_id}.onnx"))
        print(f"{model_id}: {path} -> {out}/{model_id}.onnx, embedding output {name!r}")


if __name__ == "__main__":
    main()
