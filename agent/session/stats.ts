/** Small robust statistics over score lists. */

/** Median of `xs`, null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Mean after dropping floor(n * fraction) values at each end, null when empty. */
export function trimmedMean(xs: readonly number[], fraction: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.min(Math.floor(s.length * fraction), (s.length - 1) >> 1);
  const kept = s.slice(k, s.length - k);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** Smallest value, null when empty. */
export function minOf(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : Math.min(...xs);
}

/** Largest value, null when empty. */
export function maxOf(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : Math.max(...xs);
}

/** The q-quantile (0-1) by linear interpolation between order statistics; null for an empty list. */
export function quantile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
