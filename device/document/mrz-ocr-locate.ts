/**
 * Finds the MRZ band on a greyscale page by morphology, in the way Hans Boone described and
 * PassportEye uses: dark text on a light ground shows up in a black top-hat, the characters' vertical
 * strokes in its horizontal gradient, and a wide closing joins the characters of a line into one blob.
 * The MRZ is then the group of 2 or 3 long, equal, evenly spaced line blobs. Pure; axis-aligned only
 * (the caller tries 180 degrees and quarter turns by turning the page).
 */

/** A greyscale image, one byte per pixel, row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A box in the image's pixel coordinates. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
  /** How many text lines the box holds (1 when a blob could not be split). */
  lines: number;
}

/** Min (erode) or max (dilate) over a horizontal then a vertical run: a rectangle, separably. */
function rankFilter(img: GreyImage, kw: number, kh: number, max: boolean): GreyImage {
  const { width: w, height: h } = img;
  const pick = max ? Math.max : Math.min;
  const tmp = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  const rx = kw >> 1;
  const ry = kh >> 1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let v = img.data[row + x];
      for (let k = Math.max(0, x - rx); k <= Math.min(w - 1, x + rx); k++) v = pick(v, img.data[row + k]);
      tmp[row + x] = v;
    }
  }
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      let v = tmp[y * w + x];
      for (let k = Math.max(0, y - ry); k <= Math.min(h - 1, y + ry); k++) v = pick(v, tmp[k * w + x]);
      out[y * w + x] = v;
    }
  }
  return { width: w, height: h, data: out };
}

const closing = (img: GreyImage, kw: number, kh: number): GreyImage => rankFilter(rankFilter(img, kw, kh, true), kw, kh, false);

/** Otsu's threshold over a byte histogram. */
function otsu(data: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of data) hist[v]++;
  const total = data.length;
  let sum = 0;
  for (let i = 0; i < 256; i++) sum += i * hist[i];
  let sumB = 0;
  let wB = 0;
  let best = 0;
  let threshold = 0;
  for (let t = 0; t < 256; t++) {
    wB += hist[t];
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t];
    const mB = sumB / wB;
    const mF = (sum - sumB) / wF;
    const between = wB * wF * (mB - mF) * (mB - mF);
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

/** The text-stroke map: |d/dx| of the black top-hat, closed horizontally so that a line becomes one blob. */
export function strokeMask(img: GreyImage): Uint8Array {
  const { width: w, height: h } = img;
  const unit = Math.max(1, Math.round(w / 600));
  const closed = closing(img, 13 * unit, 5 * unit);
  const hat = new Uint8Array(w * h);
  for (let i = 0; i < hat.length; i++) hat[i] = closed.data[i] - img.data[i];
  const grad = new Float32Array(w * h);
  let peak = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const g = Math.abs(hat[i - w + 1] + 2 * hat[i + 1] + hat[i + w + 1] - hat[i - w - 1] - 2 * hat[i - 1] - hat[i + w - 1]);
      grad[i] = g;
      if (g > peak) peak = g;
    }
  }
  const norm = new Uint8Array(w * h);
  if (peak > 0) for (let i = 0; i < norm.length; i++) norm[i] = Math.round((grad[i] / peak) * 255);
  const joined = closing({ width: w, height: h, data: norm }, 17 * unit, 3);
  const t = otsu(joined.data);
  const mask = new Uint8Array(w * h);
  for (let i = 0; i < mask.length; i++) mask[i] = joined.data[i] > t ? 1 : 0;
  return mask;
}

interface Blob {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Text lines as runs of rows: each row's longest run of mask pixels (gaps of a few pixels bridged),
 * stacked while they overlap. Rows rather than connected components, because a card's border or a
 * guilloche line touching the band would join every line into one component.
 */
function lineBlobs(mask: Uint8Array, w: number, h: number, minRun: number): Blob[] {
  const gap = Math.max(3, Math.round(w / 150));
  const blobs: Blob[] = [];
  let open: Blob | undefined;
  for (let y = 0; y < h; y++) {
    let bestStart = 0;
    let bestEnd = -1;
    let start = -1;
    let lastOn = -gap - 2;
    for (let x = 0; x <= w; x++) {
      const on = x < w && mask[y * w + x] === 1;
      if (on) {
        if (x - lastOn > gap + 1) start = x;
        lastOn = x;
      } else if (start >= 0 && x - lastOn > gap) {
        if (lastOn - start > bestEnd - bestStart) [bestStart, bestEnd] = [start, lastOn];
        start = -1;
      }
    }
    const long = bestEnd - bestStart + 1 >= minRun;
    const overlaps = open !== undefined && Math.min(open.right, bestEnd) - Math.max(open.left, bestStart) > 0.5 * (bestEnd - bestStart);
    if (long && open && overlaps) {
      open.left = Math.min(open.left, bestStart);
      open.right = Math.max(open.right, bestEnd);
      open.bottom = y;
    } else {
      if (open) blobs.push(open);
      open = long ? { left: bestStart, right: bestEnd, top: y, bottom: y } : undefined;
    }
  }
  if (open) blobs.push(open);
  return blobs;
}

/**
 * Candidate MRZ bands, best first: groups of 2-3 long line blobs of similar extent one below the
 * other, then single long blobs (two lines the closing merged, or a band partly lost). At most `max`.
 */
export function locateMrz(img: GreyImage, max = 3): Box[] {
  const { width: w, height: h } = img;
  const lines = lineBlobs(strokeMask(img), w, h, Math.round(w * 0.2))
    .map((b) => ({ ...b, bw: b.right - b.left + 1, bh: b.bottom - b.top + 1 }))
    .filter((b) => b.bh >= 2 && b.bw / b.bh >= 6);
  const groups: (typeof lines)[] = [];
  for (const [i, first] of lines.entries()) {
    const group = [first];
    for (const next of lines.slice(i + 1)) {
      const last = group[group.length - 1];
      const gap = next.top - last.bottom;
      const overlap = Math.min(last.right, next.right) - Math.max(last.left, next.left);
      if (gap < -last.bh / 2 || gap > 1.5 * Math.max(last.bh, next.bh)) continue;
      if (overlap < 0.6 * Math.min(last.bw, next.bw) || next.bw / last.bw < 0.6 || next.bw / last.bw > 1.67) continue;
      group.push(next);
      if (group.length === 3) break;
    }
    groups.push(group);
  }
  const boxes = groups.map((g) => {
    const left = Math.min(...g.map((b) => b.left));
    const right = Math.max(...g.map((b) => b.right));
    const top = g[0].top;
    const bottom = g[g.length - 1].bottom;
    // A lone blob much taller than a line's aspect suggests is two or three lines closed together.
    const lines = g.length > 1 ? g.length : Math.min(3, Math.max(1, Math.round((bottom - top + 1) / ((right - left + 1) / 22))));
    const score = (right - left + 1) * (g.length > 1 ? 2 : 1) * (1 + (0.3 * bottom) / h);
    return { box: { left, top, width: right - left + 1, height: bottom - top + 1, lines }, score };
  });
  boxes.sort((a, b) => b.score - a.score);
  const out: Box[] = [];
  for (const { box } of boxes) {
    // A group and its own tail are the same band: keep the first (larger) one.
    if (out.some((o) => box.top >= o.top && box.top + box.height <= o.top + o.height && box.left >= o.left - 2 && box.left + box.width <= o.left + o.width + 2))
      continue;
    out.push(box);
    if (out.length === max) break;
  }
  return out;
}
