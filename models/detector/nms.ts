import type { Box } from '../../base/rgb-image.js';

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union <= 0 ? 0 : inter / union;
}

/**
 * Greedy non-maximum suppression, highest score first (the upstream browser code sorted by box
 * bottom instead, which keeps the wrong box of an overlapping pair).
 */
export function nonMaxSuppression<T extends { box: Box; score: number }>(items: T[], iouThreshold: number, maxItems: number): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const it of sorted) {
    if (kept.length >= maxItems) break;
    if (kept.every((k) => iou(k.box, it.box) <= iouThreshold)) kept.push(it);
  }
  return kept;
}
