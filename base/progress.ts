/**
 * Progress of long command-line work, for a person at a terminal: one line on stderr, redrawn in place
 * with `\r`, at most ~10 times a second, erased when the work is done. Drawn only when the stream is a
 * terminal and `CI` is not set; in a pipe, a file or CI nothing at all is written, so output that other
 * programs read stays as it was. Never write progress to stdout: that is the command's output.
 */

/** Where progress is drawn: process.stderr, or a fake in tests. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  /** Terminal width; the line is cut to fit, since a wrapped line cannot be redrawn with `\r`. */
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** Number of items (files, variants, results); 0 is allowed and shows 0/0. */
  total: number;
  /** What is being done, first on the line, e.g. `eval match`. */
  label: string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Default `progressEnabled(stream)`: a terminal, and not CI. */
  enabled?: boolean;
  /** Least time between two redraws (default 100 ms); the first draw and the one after `clear` are immediate. */
  intervalMs?: number;
  /** Milliseconds from any origin; default performance.now. */
  now?: () => number;
  /** When the work began, on the `now` clock, for the estimate; default: now. */
  startedAt?: number;
  /** The whole line from the state (cut to the terminal's width); default `label  123/456  27%  eta 12 s  detail`. */
  format?: (state: ProgressState) => string;
}

/** What a line shows. `done` may be fractional (part of a long item); `etaMs` is undefined before the first item and at the end. */
export interface ProgressState {
  label: string;
  done: number;
  total: number;
  etaMs: number | undefined;
  detail: string | undefined;
}

export interface Progress {
  /** One more item is done; `detail` (e.g. the file's name) is shown after the counts. */
  tick(detail?: string): void;
  /** Sets how many items are done (e.g. before a long item starts, to show its name). */
  update(done: number, detail?: string): void;
  /** Erases the line before other output to the terminal; the next tick or update draws it again. */
  clear(): void;
  /** Erases the line for good; later calls do nothing. */
  done(): void;
}

const ERASE = '\r\x1b[K';

/** Whether progress should be drawn on `stream`: it is a terminal and the environment is not CI. */
export function progressEnabled(stream: ProgressStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return stream.isTTY === true && (ci === undefined || ci === '' || ci === '0' || ci.toLowerCase() === 'false');
}

/** `12 s`, `3 min 05 s`, `2 h 07 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Cuts a line to the terminal's width, keeping the end of `detail` (a path's file name matters most). */
function fit(head: string, detail: string | undefined, columns: number | undefined): string {
  if (!detail) return columns && head.length >= columns ? head.slice(0, columns - 1) : head;
  const line = `${head}  ${detail}`;
  if (!columns || line.length < columns) return line;
  const room = columns - 1 - head.length - 2;
  if (room < 8) return head.slice(0, columns - 1);
  return `${head}  …${detail.slice(detail.length - (room - 1))}`;
}

function defaultLine(s: ProgressState, columns: number | undefined): string {
  const pct = s.total > 0 ? Math.min(100, Math.floor((100 * s.done) / s.total)) : 100;
  const done = Number.isInteger(s.done) ? s.done : s.done.toFixed(1);
  const eta = s.etaMs === undefined ? '' : `  eta ${formatDuration(s.etaMs)}`;
  return fit(`${s.label}  ${done}/${s.total}  ${String(pct).padStart(2)}%${eta}`, s.detail, columns);
}

/** Lines being drawn now, so that a log line can erase them first (see `interruptProgress`). */
const active = new Set<{ clear(): void }>();

/**
 * Erases every progress line being drawn, so that what is written next (a log line, an error) starts
 * at the beginning of an empty line; each line is drawn again at its next tick. base/log calls this
 * before every log line that goes to stderr.
 */
export function interruptProgress(): void {
  for (const p of active) p.clear();
}

/** A progress line: `label  123/456  27%  eta 12 s  detail`. A no-op when not enabled. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled ?? progressEnabled(stream);
  if (!enabled) return { tick() {}, update() {}, clear() {}, done() {} };
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const total = Math.max(0, options.total);
  const start = options.startedAt ?? now();
  let count = 0;
  let shown = false;
  let finished = false;
  let lastDraw = Number.NEGATIVE_INFINITY;

  const draw = (detail: string | undefined) => {
    const t = now();
    if (shown && t - lastDraw < intervalMs) return;
    const state: ProgressState = {
      label: options.label,
      done: count,
      total,
      etaMs: count > 0 && count < total ? ((t - start) / count) * (total - count) : undefined,
      detail,
    };
    stream.write(ERASE + (options.format ? fit(options.format(state), undefined, stream.columns) : defaultLine(state, stream.columns)));
    shown = true;
    lastDraw = t;
  };
  const line: Progress = {
    tick(detail) {
      line.update(count + 1, detail);
    },
    update(done, detail) {
      if (finished) return;
      count = Math.max(0, done);
      draw(detail);
    },
    clear() {
      if (shown) stream.write(ERASE);
      shown = false;
    },
    done() {
      if (finished) return;
      line.clear();
      finished = true;
      active.delete(line);
    },
  };
  active.add(line);
  return line;
}

/**
 * Progress for a runner that reports `(done, total, name)` after each item, possibly in several phases
 * (e.g. images, then videos): a line per phase, started at the phase's first report (or when `total`
 * changes, or `done` goes back) and erased when `done` reaches `total`. Make it just before the work
 * starts (the first phase's estimate counts from then); call `done()` when the work ends early (an
 * error), to erase the line.
 */
export function phasedProgress(
  label: string,
  options: Omit<ProgressOptions, 'total' | 'label'> = {},
): { report(done: number, total: number, detail?: string): void; done(): void } {
  const now = options.now ?? (() => performance.now());
  // A phase began when the one before it ended (or when this was made): the estimate counts its first item.
  let phaseStart = now();
  let current: { progress: Progress; total: number; done: number } | undefined;
  return {
    report(done, total, detail) {
      if (!current || current.total !== total || done < current.done) {
        current?.progress.done();
        current = { progress: createProgress({ ...options, now, startedAt: phaseStart, total, label }), total, done };
      }
      current.done = done;
      phaseStart = now();
      current.progress.update(done, detail);
      if (done >= total) {
        current.progress.done();
        current = undefined;
      }
    },
    done() {
      current?.progress.done();
      current = undefined;
    },
  };
}
