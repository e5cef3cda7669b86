"""What the model conversion scripts (convert-silent-face.py, convert-hyperfas.py) share: the sha256
of a file, and the formula-defined check pattern that the TypeScript checks compute identically
(scripts/models/check-inputs.ts)."""
import hashlib
import math


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_pattern(k, size):
    """Check input k: round(127.5 + 127.5 sin(0.37 y (k+1) + 0.11 x (c+1) + 0.7 k)) over 3 x size x size, NCHW."""
    data = []
    for c in range(3):
        for y in range(size):
            for x in range(size):
                data.append(float(round(127.5 + 127.5 * math.sin(0.37 * y * (k + 1) + 0.11 * x * (c + 1) + 0.7 * k))))
    return data
