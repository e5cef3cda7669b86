/** L2 logistic regression by Newton's method, for the PAD probe diagnostic (probe.ts). */

/** Fits P(y) = sigmoid(w . z + b) on standardised inputs z; returns the scorer (the logit). The intercept is not shrunk. */
export function fitLogistic(x: readonly number[][], y: readonly boolean[], l2: number, maxIter = 50): (v: readonly number[]) => number {
  const n = x.length;
  const d = x[0].length;
  const mu = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  for (const r of x) for (let j = 0; j < d; j++) mu[j] += r[j] / n;
  for (const r of x) for (let j = 0; j < d; j++) sd[j] += (r[j] - mu[j]) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]) + 1e-9;
  const z = x.map((r) => [...r.map((v, j) => (v - mu[j]) / sd[j]), 1]);
  const m = d + 1;
  const w = new Array<number>(m).fill(0);
  for (let it = 0; it < maxIter; it++) {
    const grad = new Array<number>(m).fill(0);
    const hess = Array.from({ length: m }, () => new Array<number>(m).fill(0));
    for (let i = 0; i < n; i++) {
      const zi = z[i];
      let s = 0;
      for (let j = 0; j < m; j++) s += zi[j] * w[j];
      const p = 1 / (1 + Math.exp(-s));
      const g = (p - (y[i] ? 1 : 0)) / n;
      const h = (p * (1 - p)) / n;
      for (let j = 0; j < m; j++) {
        grad[j] += g * zi[j];
        const hz = h * zi[j];
        const row = hess[j];
        for (let k = j; k < m; k++) row[k] += hz * zi[k];
      }
    }
    for (let j = 0; j < m; j++) for (let k = 0; k < j; k++) hess[j][k] = hess[k][j];
    for (let j = 0; j < d; j++) {
      grad[j] += l2 * w[j];
      hess[j][j] += l2;
    }
    const step = solve(hess, grad);
    let largest = 0;
    for (let j = 0; j < m; j++) {
      w[j] -= step[j];
      largest = Math.max(largest, Math.abs(step[j]));
    }
    if (largest < 1e-8) break;
  }
  return (v) => {
    let s = w[d];
    for (let j = 0; j < d; j++) s += ((v[j] - mu[j]) / sd[j]) * w[j];
    return s;
  };
}

/** Solves A x = b by Gaussian elimination with partial pivoting (A is copied). */
export function solve(a: readonly number[][], b: readonly number[]): number[] {
  const m = b.length;
  const A = a.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    const piv = A[c][c];
    for (let r = c + 1; r < m; r++) {
      const f = A[r][c] / piv;
      if (f === 0) continue;
      for (let k = c; k <= m; k++) A[r][k] -= f * A[c][k];
    }
  }
  const out = new Array<number>(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let s = A[r][m];
    for (let k = r + 1; k < m; k++) s -= A[r][k] * out[k];
    out[r] = s / A[r][r];
  }
  return out;
}

/** The lowest threshold that calls at most `maxBpcer` of the bona fide scores attacks (score > threshold). */
export function thresholdAtBpcer(bonaScores: readonly number[], maxBpcer: number): number {
  const sorted = [...bonaScores].sort((p, q) => p - q);
  return sorted[sorted.length - 1 - Math.floor(maxBpcer * sorted.length)];
}
