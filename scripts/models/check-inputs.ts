// The formula-defined inputs of the conversion checks, computed identically by
// scripts/models/conversion_common.py (check_pattern), so that no input file needs to be stored.

/** Input k: round(127.5 + 127.5 sin(0.37 y (k+1) + 0.11 x (c+1) + 0.7 k)) over 3 x size x size, NCHW, 0-255. */
export function checkPattern(k: number, size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  let i = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) out[i++] = Math.round(127.5 + 127.5 * Math.sin(0.37 * y * (k + 1) + 0.11 * x * (c + 1) + 0.7 * k));
    }
  }
  return out;
}
