/**
 * Child-process entry of one carrier verifier in a fleet simulation (forked with an IPC channel): a
 * {@link VerifierService} standing for one host, with its own certificate, on the shared
 * subscription, its nonces in the carrier's stores (one SQLite folder on one host, or one PostgreSQL
 * database for many). Reports every outcome to the parent at once, before the broker is acknowledged
 * (the outcome listener runs before the PUBACK), so a SIGKILL cannot acknowledge a result whose
 * outcome the parent never heard of. The `replay` message is a test hook: a token handed straight to
 * this host's verifier, as if it had arrived here (see sim/replayer.ts for why).
 */
import { readFileSync } from 'node:fs';
import { isKioskError } from '../base/errors.js';
import { createLogger } from '../base/log.js';
import { ResultVerifier, type VerifyOutcome } from '../carrier/verifier.js';
import { loadVerifierPolicy } from '../carrier/verifier-policy.js';
import { VerifierService } from '../carrier/verifier-service.js';
import { revocationCheck } from '../carrier/revocation.js';
import { openCarrierStores } from '../carrier/store/open.js';
import type { StoreSpec } from '../carrier/store/types.js';
import { parseCertificate } from '../base/keys/x509.js';

/** Configuration passed as argv[2] (JSON file). */
export interface SimVerifierConfig {
  url: string;
  clientId: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** The carrier's stores this host uses (every host of a fleet names the same one). */
  store: StoreSpec;
  /** The verifier policy file (carrier/verifier-policy.ts), built from the simulated kiosks' measurements. */
  policyPath: string;
  /** The carrier CA's directory: results signed with a certificate its record lists as revoked are refused. */
  caDir?: string;
}

/** One verification as the parent counts it. */
export interface SimOutcome {
  status: VerifyOutcome['status'];
  jti?: string;
  /** Why, for a rejection. */
  reason?: string;
  detail?: string;
}

/** Messages to the parent. */
export type SimVerifierMessage =
  | { type: 'ready' }
  | ({ type: 'outcome' } & SimOutcome)
  | ({ type: 'replayed'; id: number } & SimOutcome)
  | { type: 'cpu'; userUs: number; systemUs: number };

/** Messages from the parent. */
export type SimVerifierCommand = { type: 'mark' } | { type: 'cpu' } | { type: 'stop' } | { type: 'replay'; id: number; token: string };

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8')) as SimVerifierConfig;
// After the parent is gone (it gave up, or was killed) there is no one to tell: never crash on EPIPE.
const send = (m: SimVerifierMessage) => {
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
};
const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' });
const stores = await openCarrierStores(cfg.store);
const revocation = cfg.caDir ? revocationCheck(cfg.caDir) : undefined;
const ca = readFileSync(cfg.caPath);
const verifier = new ResultVerifier({
  ca: parseCertificate(ca.toString(), cfg.caPath),
  nonces: stores.nonces,
  // checkPlan 'skip': the simulated kiosks run no session, their results carry no challenge plan.
  checkPlan: 'skip',
  policy: await loadVerifierPolicy(cfg.policyPath),
  isRevoked: revocation?.isRevoked,
});
const service = new VerifierService({
  options: { url: cfg.url, clientId: cfg.clientId, ca, cert: readFileSync(cfg.certPath), key: readFileSync(cfg.keyPath) },
  verifier,
  logger,
});

const simple = (o: VerifyOutcome): SimOutcome =>
  o.status === 'rejected' ? { status: o.status, jti: o.jti, reason: o.reason, detail: o.detail } : { status: o.status, jti: o.jti };
// Sent synchronously from the listener: VerifierService acknowledges the message only after it returns.
service.events.on('outcome', (o) => send({ type: 'outcome', ...simple(o) }));

let mark = process.cpuUsage();
process.on('message', (m: SimVerifierCommand) => {
  if (m.type === 'mark') mark = process.cpuUsage();
  if (m.type === 'cpu') {
    const u = process.cpuUsage(mark);
    send({ type: 'cpu', userUs: u.user, systemUs: u.system });
  }
  if (m.type === 'replay') {
    // The same ResultVerifier (and store connection) the MQTT consumer uses.
    verifier.verify(m.token).then(
      (o) => send({ type: 'replayed', id: m.id, ...simple(o) }),
      (err: Error) => send({ type: 'replayed', id: m.id, status: 'rejected', reason: 'error', detail: err.message }),
    );
  }
  if (m.type === 'stop') {
    void (async () => {
      await service.stop();
      await stores.close();
      revocation?.stop();
      process.disconnect?.();
    })();
  }
});
process.on('disconnect', () => process.exit(0));
// VerifierService.start() fails on the first client error before it is subscribed. A host restarted
// onto a long backlog in its persistent session can hit mqtt.js's keepalive timeout before its SUBACK
// (packets are handled one at a time, the PINGRESP waits behind the queued results): try again, the
// session keeps what was not acknowledged, each try gets further.
for (let attempt = 1; ; attempt++) {
  try {
    await service.start();
    break;
  } catch (err) {
    // A refusal (this certificate lacks the verifier role) does not change with time: give up.
    if (isKioskError(err) && err.code === 'E_NOT_AUTHORIZED') throw err;
    logger.warn({ err: { message: (err as Error).message }, attempt }, 'verifier host could not subscribe; trying again');
    await service.stop();
    await new Promise((r) => setTimeout(r, 500));
  }
}
send({ type: 'ready' });
