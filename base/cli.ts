/** What every command line (the kiosk's, the carrier's, the simulator's) shares: exit codes, error output, option parsers. */
import { InvalidArgumentError } from 'commander';
import { isKioskError, toKioskError } from './errors.js';

/** Exit codes shared by every command: 0 success/accept, 1 reject or failed check, 2 error. */
export const EXIT = { ok: 0, reject: 1, error: 2 } as const;

/** Prints an error as one line (or JSON) naming its code and subject, and sets exit code 2. */
export function reportError(err: unknown, json = false): void {
  const e = toKioskError(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
  else process.stderr.write(`error ${e.code}: ${e.message}\n`);
  if (!isKioskError(err)) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = EXIT.error;
}

/** An option parser for an integer >= `min`, naming the option in its error. */
export function intArg(name: string, min: number): (value: string) => number {
  return (value: string): number => {
    const v = Number(value);
    if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return v;
  };
}

/** An option parser for a number in [min, max], naming the option in its error. */
export function floatArg(name: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    }
    return v;
  };
}

/** An option parser for a non-empty comma-separated list. */
export function listArg(value: string): string[] {
  const list = value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (list.length === 0) throw new InvalidArgumentError('expected a comma-separated list');
  return list;
}

/** Resolves when the process is asked to stop (SIGTERM from systemd, SIGINT from a terminal): the end of a long-running command. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((done) => {
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}
