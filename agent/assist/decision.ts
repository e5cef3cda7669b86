/**
 * Operator decisions: a compact JWS (ES256) made in the operator's browser with the operator's
 * WebCrypto key and sent over the data channel. The agent trusts a decision only when it is signed
 * by a key configured for the operator named in `kid`, is for this call (assist id, kiosk, the
 * call's random challenge) and is fresh. Everything else is refused with a reason the page shows.
 */
import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose';
import { KioskError } from '../../base/errors.js';
import { parseCompact } from '../../protocol/jws.js';
import { OPERATOR_NAME_PATTERN } from '../../protocol/names.js';

/** The `typ` header of an operator decision. */
export const DECISION_TYP = 'kiosk-assist-decision+jwt';

/** One operator the carrier configured: the id (also the broker login) and the public key (P-256 JWK). */
export interface OperatorKeyConfig {
  id: string;
  publicKey: JWK;
}

/** What a decision binds to. */
export interface DecisionContext {
  assistId: string;
  kioskId: string;
  challenge: string;
}

/** A verified decision. */
export interface OperatorDecision {
  decision: 'approve' | 'reject';
  /** The operator whose configured key verified the signature. */
  operatorId: string;
  /** RFC 7638 thumbprint of that key. */
  keyThumbprint: string;
  iat: number;
  note?: string;
  /** The decision token as received (the carrier can verify it again). */
  token: string;
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Why a decision was refused. */
export type DecisionRefusal = 'malformed' | 'unsigned' | 'unknown_operator' | 'bad_signature' | 'wrong_call' | 'stale' | 'bad_decision';

/** Verifies operator decisions against the configured operator keys. */
export class DecisionVerifier {
  private keys?: Map<string, { key: VerifyKey; thumbprint: string }>;

  constructor(private readonly deps: { operators: OperatorKeyConfig[]; clock?: () => number; maxAgeSec?: number }) {}

  /** Imports the keys; a bad operator entry is a configuration error naming it. */
  async start(): Promise<void> {
    const keys = new Map<string, { key: VerifyKey; thumbprint: string }>();
    for (const o of this.deps.operators) {
      if (!OPERATOR_NAME_PATTERN.test(o.id))
        throw new KioskError('E_CONFIG_INVALID', 'operator id must match carrier-op-<name>', { subject: `assist.operators.${o.id}` });
      const jwk = o.publicKey;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d !== undefined)
        throw new KioskError('E_CONFIG_INVALID', 'operator key must be a public P-256 JWK', { subject: `assist.operators.${o.id}` });
      keys.set(o.id, { key: await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256'), thumbprint: await calculateJwkThumbprint(jwk) });
    }
    this.keys = keys;
  }

  /** Verifies `token` for the call `ctx`; throws E_ASSIST with `details.reason` (a {@link DecisionRefusal}). */
  async verify(token: unknown, ctx: DecisionContext): Promise<OperatorDecision> {
    if (!this.keys) throw new KioskError('E_INTERNAL', 'DecisionVerifier used before start()');
    // Bounded so the token fits in the signed result (strings there stay under 1 KiB).
    if (typeof token !== 'string' || token.length > 1000)
      throw refuse(typeof token === 'string' ? 'malformed' : 'unsigned', 'decision token is not a compact JWS of at most 1000 characters');
    let header: Record<string, unknown>;
    try {
      header = parseCompact(token).header;
    } catch (err) {
      throw refuse('malformed', (err as Error).message);
    }
    if (header.alg !== 'ES256') throw refuse('unsigned', `alg ${String(header.alg)} is not ES256`);
    if (header.typ !== DECISION_TYP) throw refuse('malformed', `typ must be ${DECISION_TYP}`);
    const entry = typeof header.kid === 'string' ? this.keys.get(header.kid) : undefined;
    if (!entry) throw refuse('unknown_operator', 'kid names no configured operator');
    let payload: Record<string, unknown>;
    try {
      const r = await compactVerify(token, entry.key, { algorithms: ['ES256'] });
      payload = JSON.parse(new TextDecoder().decode(r.payload)) as Record<string, unknown>;
    } catch {
      throw refuse('bad_signature', `signature does not verify with the key of ${String(header.kid)}`);
    }
    if (payload.assist_id !== ctx.assistId || payload.kiosk !== ctx.kioskId || payload.challenge !== ctx.challenge)
      throw refuse('wrong_call', 'decision is for another call');
    const now = Math.floor((this.deps.clock?.() ?? Date.now()) / 1000);
    const maxAge = this.deps.maxAgeSec ?? 120;
    if (typeof payload.iat !== 'number' || !Number.isInteger(payload.iat) || payload.iat > now + 30 || payload.iat < now - maxAge)
      throw refuse('stale', 'iat missing, in the future or older than allowed');
    if (payload.decision !== 'approve' && payload.decision !== 'reject') throw refuse('bad_decision', 'decision must be approve or reject');
    const note = typeof payload.note === 'string' ? payload.note.slice(0, 200) : undefined;
    return {
      decision: payload.decision,
      operatorId: header.kid as string,
      keyThumbprint: entry.thumbprint,
      iat: payload.iat,
      token,
      ...(note ? { note } : {}),
    };
  }
}

function refuse(reason: DecisionRefusal, message: string): KioskError {
  return new KioskError('E_ASSIST', `operator decision refused: ${message}`, { subject: reason, details: { reason } });
}
