#!/usr/bin/env python3
"""Converts the HyperFAS presentation-attack model (zeusees/HyperFAS, BSD-3-Clause) from its Keras
HDF5 file to ONNX, and records what a second, independent reading of the same file computes.

Nothing of that repository is copied into ours. The HDF5 file holds the network as a Keras 2.2.4
JSON config plus its weights; this script reads both with h5py (no Keras or TensorFlow is needed,
and Debian has neither), builds the same network as ONNX operators, and checks the result.

The check: TensorFlow is not available here, so the ONNX graph cannot be compared with Keras
itself. Instead the script evaluates the network a second way, in NumPy, in Keras's own layout
(NHWC, TensorFlow's 'same' padding, channels-last flatten), straight from the HDF5 weights, on
fixed formula-defined inputs, and writes those outputs beside the model; the TypeScript side
(`scripts/models/hyperfas-check.ts`, and a unit test on every CI) runs the ONNX file through ONNX
Runtime on the same inputs and compares. The two share only the reading of the config, not the
layout, the padding arithmetic or the flatten order, which is where a conversion goes wrong.

    git clone https://github.com/zeusees/HyperFAS /tmp/hyperfas
    git -C /tmp/hyperfas checkout da55c0201072a3b9b45da6d944d1306cd5f0aaff
    /usr/bin/python3 scripts/models/convert-hyperfas.py --source /tmp/hyperfas \
        --commit da55c0201072a3b9b45da6d944d1306cd5f0aaff --out models/converted/hyperfas

The output is byte-for-byte the same on a second run. The weight file is pinned by its sha256.

Needs Debian's python3-h5py, python3-numpy and python3-onnx.
"""
import argparse
import json
import os
import sys

from conversion_common import check_pattern, sha256

REPOSITORY = "https://github.com/zeusees/HyperFAS"
PATH = "model/fas.h5"
SHA256 = "db3014e5c16ad4535ea106f3f7572fb250d6753b28970140c3feec4ef8b8b6bd"
IDENT = "hyperfas"
SIZE = 224
OPSET = 13
CHECK_INPUTS = 4


def check_input(k):
    """Input k of the check: the shared pattern (conversion_common.check_pattern) normalised to [-1, 1]
    as the model is fed, NCHW; the TypeScript side computes it identically (scripts/models/check-inputs.ts)."""
    return [(v - 127.5) / 127.5 for v in check_pattern(k, SIZE)]


def same_pads(size, k, s):
    """TensorFlow's 'same' padding for one axis: (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2, out


def read_layers(h5):
    cfg = json.loads(h5.attrs["model_config"])
    layers = cfg["config"]["layers"]
    prev = None
    for layer in layers:
        nodes = layer.get("inbound_nodes") or []
        inbound = [n[0] for n in nodes[0]] if nodes else []
        if prev is not None and inbound != [prev]:
            sys.exit(f"layer {layer['config']['name']}: not a plain sequence (inputs {inbound})")
        prev = layer["config"]["name"]
    return layers


def weights(h5, name):
    group = h5["model_weights"][name][name]
    return {key.split(":")[0]: group[key][()] for key in group.keys()}


def build_onnx(h5, layers):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    cur, size, channels = "input", SIZE, 3

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    for layer in layers:
        kind, c = layer["class_name"], layer["config"]
        name = c["name"]
        if kind == "InputLayer":
            if c["batch_input_shape"][1:] != [SIZE, SIZE, 3]:
                sys.exit(f"unexpected input shape {c['batch_input_shape']}")
            continue
        out = name
        if kind in ("Conv2D", "DepthwiseConv2D"):
            if c["dilation_rate"] != [1, 1] or c["activation"] != "linear":
                sys.exit(f"{name}: unsupported options")
            w = weights(h5, name)
            kh, kw = c["kernel_size"]
            sh, sw = c["strides"]
            if c["padding"] == "same":
                top, bottom, out_size = same_pads(size, kh, sh)
                left, right, _ = same_pads(size, kw, sw)
            else:
                top = bottom = left = right = 0
                out_size = (size - kh) // sh + 1
            inputs = [cur]
            if kind == "Conv2D":
                kernel = w["kernel"].transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
                group = 1
                channels = c["filters"]
            else:
                if c["depth_multiplier"] != 1:
                    sys.exit(f"{name}: depth_multiplier {c['depth_multiplier']}")
                kernel = w["depthwise_kernel"].transpose(2, 3, 0, 1)  # (kh, kw, in, 1) -> (in, 1, kh, kw)
                group = channels
            inputs.append(init(f"{name}.w", kernel))
            if c["use_bias"]:
                inputs.append(init(f"{name}.b", w["bias"]))
            nodes.append(helper.make_node("Conv", inputs, [out], name=name, kernel_shape=[kh, kw], strides=[sh, sw],
                                          pads=[top, left, bottom, right], group=group))
            size = out_size
        elif kind == "BatchNormalization":
            w = weights(h5, name)
            if c["axis"] not in (-1, 3) or not c["center"] or not c["scale"]:
                sys.exit(f"{name}: unsupported options")
            nodes.append(helper.make_node(
                "BatchNormalization",
                [cur, init(f"{name}.gamma", w["gamma"]), init(f"{name}.beta", w["beta"]),
                 init(f"{name}.mean", w["moving_mean"]), init(f"{name}.var", w["moving_variance"])],
                [out], name=name, epsilon=float(c["epsilon"])))
        elif kind == "Activation":
            if c["activation"] != "relu":
                sys.exit(f"{name}: activation {c['activation']}")
            nodes.append(helper.make_node("Relu", [cur], [out], name=name))
        elif kind == "Flatten":
            # Keras flattens channels-last: transpose NCHW -> NHWC first so the Dense weights line up.
            nodes.append(helper.make_node("Transpose", [cur], [f"{name}.nhwc"], name=f"{name}.nhwc", perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Flatten", [f"{name}.nhwc"], [out], name=name, axis=1))
        elif kind == "Dense":
            w = weights(h5, name)
            if c["activation"] != "sigmoid" or c["units"] != 1:
                sys.exit(f"{name}: unsupported dense layer")
            nodes.append(helper.make_node("Gemm", [cur, init(f"{name}.w", w["kernel"]), init(f"{name}.b", w["bias"])],
                                          [f"{name}.logit"], name=name))
            nodes.append(helper.make_node("Sigmoid", [f"{name}.logit"], ["p_live"], name=f"{name}.sigmoid"))
            out = "p_live"
        else:
            sys.exit(f"{name}: layer kind {kind} is not converted")
        cur = out
    if cur != "p_live":
        sys.exit("the network does not end in the sigmoid dense layer")
    graph = helper.make_graph(
        nodes, "hyperfas",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("p_live", TensorProto.FLOAT, [1, 1])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kiosk-agent convert-hyperfas.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference(h5, layers, x_nchw):
    """The network evaluated in Keras's own layout (NHWC), from the HDF5 weights, in float64."""
    import numpy as np

    x = np.asarray(x_nchw, dtype=np.float64).reshape(3, SIZE, SIZE).transpose(1, 2, 0)  # HWC
    for layer in layers:
        kind, c = layer["class_name"], layer["config"]
        name = c["name"]
        if kind == "InputLayer":
            continue
        if kind in ("Conv2D", "DepthwiseConv2D"):
            w = weights(h5, name)
            kh, kw = c["kernel_size"]
            sh, sw = c["strides"]
            h, wd, _ = x.shape
            if c["padding"] == "same":
                top, bottom, oh = same_pads(h, kh, sh)
                left, right, ow = same_pads(wd, kw, sw)
            else:
                top = bottom = left = right = 0
                oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
            xp = np.pad(x, ((top, bottom), (left, right), (0, 0)))
            if kind == "Conv2D":
                k = w["kernel"].astype(np.float64)
                y = np.zeros((oh, ow, k.shape[3]))
                for i in range(kh):
                    for j in range(kw):
                        y += xp[i:i + sh * oh:sh, j:j + sw * ow:sw, :] @ k[i, j]
            else:
                k = w["depthwise_kernel"].astype(np.float64)[:, :, :, 0]
                y = np.zeros((oh, ow, x.shape[2]))
                for i in range(kh):
                    for j in range(kw):
                        y += xp[i:i + sh * oh:sh, j:j + sw * ow:sw, :] * k[i, j]
            if c["use_bias"]:
                y += w["bias"]
            x = y
        elif kind == "BatchNormalization":
            w = weights(h5, name)
            x = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + c["epsilon"]) * w["gamma"] + w["beta"]
        elif kind == "Activation":
            x = np.maximum(x, 0)
        elif kind == "Flatten":
            x = x.reshape(-1)
        elif kind == "Dense":
            w = weights(h5, name)
            x = 1 / (1 + np.exp(-(x @ w["kernel"] + w["bias"])))
    return float(x[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="checkout of zeusees/HyperFAS")
    ap.add_argument("--commit", required=True, help="the checkout's commit id, recorded in the provenance")
    ap.add_argument("--out", required=True, help="output folder (models/converted/hyperfas)")
    args = ap.parse_args()

    import h5py
    import numpy as np
    import onnx

    src = os.path.join(args.source, PATH)
    digest = sha256(src)
    if digest != SHA256:
        sys.exit(f"{PATH}: sha256 {digest} is not the pinned {SHA256}")
    os.makedirs(args.out, exist_ok=True)
    with h5py.File(src, "r") as h5:
        keras_version = h5.attrs["keras_version"]
        keras_version = keras_version.decode() if isinstance(keras_version, bytes) else str(keras_version)
        layers = read_layers(h5)
        model = build_onnx(h5, layers)
        onnx_path = os.path.join(args.out, f"{IDENT}.onnx")
        onnx.save(model, onnx_path)
        checks = [reference(h5, layers, check_input(k)) for k in range(CHECK_INPUTS)]
    with open(os.path.join(args.out, f"{IDENT}.check.json"), "w") as f:
        json.dump({"model": f"{IDENT}.onnx", "input": "scripts/models/hyperfas-check.ts checkInput(k)",
                   "reference": "NumPy float64, NHWC, from the HDF5 weights (convert-hyperfas.py reference())",
                   "p_live": checks}, f, indent=1)
    provenance = [{
        "id": IDENT,
        "file": f"{IDENT}.onnx",
        "sha256": sha256(onnx_path),
        "bytes": os.path.getsize(onnx_path),
        "original": {"repository": REPOSITORY, "commit": args.commit, "path": PATH, "sha256": digest,
                     "bytes": os.path.getsize(src), "keras_version": keras_version,
                     "licence": "BSD-3-Clause (the repository's LICENSE, copied beside this file)",
                     "trained_on": "about 360k images (180k fake, 180k real: paper, screens) including 'most public "
                                   "fake-face datasets', as its README says; which ones is not listed, so NUAA may be "
                                   "among them"},
        "converter": {"script": "scripts/models/convert-hyperfas.py", "h5py": h5py.__version__,
                      "numpy": np.__version__, "onnx": onnx.__version__, "opset": OPSET},
    }]
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)
    print(f"{PATH} -> {onnx_path}; reference p_live {checks}")


if __name__ == "__main__":
    main()
