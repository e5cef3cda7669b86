/**
 * The fleet simulation's use of the carrier's stores (carrier/store/): nonces issued up front for
 * every result, a separate copy for one host (the fail-before demonstration: a host with its own
 * SQLite file, as before the stores were shared), and the audit at the end that asks the store itself
 * whether every result's nonce was consumed by that result.
 */
import { cpSync, mkdirSync } from 'node:fs';
import { openCarrierStores } from '../carrier/store/open.js';
import type { StoreSpec } from '../carrier/store/types.js';

/** Issues `perDevice` nonces for each of `ids` (device-major order: all of the first device's, then the next's). */
export async function issueFleetNonces(spec: StoreSpec, ids: string[], perDevice: number): Promise<string[]> {
  if (spec.kind === 'sqlite') mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  const stores = await openCarrierStores(spec);
  try {
    const devices = ids.flatMap((id) => Array<string>(perDevice).fill(id));
    const out: string[] = [];
    // Chunks keep one PostgreSQL statement's parameters and one SQLite transaction bounded.
    for (let i = 0; i < devices.length; i += 5000) out.push(...(await stores.nonces.issueMany(devices.slice(i, i + 5000), new Date())));
    return out;
  } finally {
    await stores.close();
  }
}

/** A copy of a closed SQLite store in `dir`: the state a second host with its own file would start from. */
export function copySqliteStore(spec: StoreSpec, dir: string): StoreSpec {
  if (spec.kind !== 'sqlite') throw new Error('only a SQLite store can be copied for a separate host');
  cpSync(spec.dir, dir, { recursive: true });
  return { kind: 'sqlite', dir };
}

/** One result the fleet sent: its nonce, kiosk and jti. */
export interface SentResult {
  nonce: string;
  deviceId: string;
  jti: string;
}

/** What the store says of the fleet's results after the run. */
export interface StoreAudit {
  /** Nonces consumed by their own result (`duplicate` when consumed again with the same jti). */
  consumed: number;
  /** Nonces nobody consumed: those results were lost (the audit consumes them now). */
  notConsumed: number;
  /** Anything else (`replay`: consumed by another jti, `unknown`, ...), by check. */
  other: Record<string, number>;
}

/**
 * Asks the store about every sent result by consuming its nonce once more with the same jti: the
 * store's own answer (`duplicate`) is the proof it was consumed by that result, with no query outside
 * the NonceStore interface.
 */
export async function auditFleetNonces(spec: StoreSpec, sent: SentResult[]): Promise<StoreAudit> {
  const stores = await openCarrierStores(spec);
  const audit: StoreAudit = { consumed: 0, notConsumed: 0, other: {} };
  try {
    const at = { now: new Date(), iat: new Date(), skewMs: 0 };
    for (let i = 0; i < sent.length; i += 200) {
      const checks = await Promise.all(sent.slice(i, i + 200).map((r) => stores.nonces.consume(r.nonce, r.deviceId, r.jti, at)));
      for (const c of checks) {
        if (c === 'duplicate') audit.consumed++;
        else if (c === 'ok') audit.notConsumed++;
        else audit.other[c] = (audit.other[c] ?? 0) + 1;
      }
    }
    return audit;
  } finally {
    await stores.close();
  }
}
