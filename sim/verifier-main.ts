/**
 * Child-process entry of one carrier verifier in a fleet simulation (forked with an IPC channel):
 * a {@link VerifierService} on the shared subscription, nonces in the SQLite file all instances
 * share. Reports outcomes in batches (`{type:'outcomes'}`) and its own CPU time on request.
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../base/log.js';
import { SqliteNonceStore } from '../carrier/nonce-store.js';
import { ResultVerifier } from '../carrier/verifier.js';
import { loadVerifierPolicy } from '../carrier/verifier-policy.js';
import { VerifierService } from '../carrier/verifier-service.js';
import { revocationCheck } from '../carrier/revocation.js';
import { parseCertificate } from '../base/keys/x509.js';

/** Configuration passed as argv[2] (JSON file). */
export interface SimVerifierConfig {
  url: string;
  clientId: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  noncesPath: string;
  /** The verifier policy file (carrier/verifier-policy.ts), built from the simulated kiosks' measurements. */
  policyPath: string;
  /** The carrier CA's directory: results signed with a certificate its record lists as revoked are refused. */
  caDir?: string;
}

/** Messages to the parent. */
export type SimVerifierMessage =
  | { type: 'ready' }
  | { type: 'outcomes'; accepted: string[]; duplicates: number; rejected: string[] }
  | { type: 'cpu'; userUs: number; systemUs: number };

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8')) as SimVerifierConfig;
const send = (m: SimVerifierMessage) => process.send?.(m);
const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' });
const nonces = new SqliteNonceStore(cfg.noncesPath);
const revocation = cfg.caDir ? revocationCheck(cfg.caDir) : undefined;
const ca = readFileSync(cfg.caPath);
const service = new VerifierService({
  options: { url: cfg.url, clientId: cfg.clientId, ca, cert: readFileSync(cfg.certPath), key: readFileSync(cfg.keyPath) },
  // checkPlan 'skip': the simulated kiosks run no session, their results carry no challenge plan.
  verifier: new ResultVerifier({
    ca: parseCertificate(ca.toString(), cfg.caPath),
    nonces,
    checkPlan: 'skip',
    policy: await loadVerifierPolicy(cfg.policyPath),
    isRevoked: revocation?.isRevoked,
  }),
  logger,
});
let batch = { accepted: [] as string[], duplicates: 0, rejected: [] as string[] };
service.events.on('outcome', (o) => {
  if (o.status === 'rejected') batch.rejected.push(`${o.reason}: ${o.detail}`);
  else if (o.status === 'accepted') batch.accepted.push(o.jti);
  else batch.duplicates++;
});
const flush = () => {
  if (batch.accepted.length || batch.duplicates || batch.rejected.length) send({ type: 'outcomes', ...batch });
  batch = { accepted: [], duplicates: 0, rejected: [] };
};
const timer = setInterval(flush, 100);
let mark = process.cpuUsage();
process.on('message', (m: { type: string }) => {
  if (m.type === 'mark') mark = process.cpuUsage();
  if (m.type === 'cpu') {
    const u = process.cpuUsage(mark);
    send({ type: 'cpu', userUs: u.user, systemUs: u.system });
  }
  if (m.type === 'stop') {
    void (async () => {
      clearInterval(timer);
      await service.stop();
      flush();
      await nonces.stop();
      revocation?.stop();
      process.disconnect?.();
    })();
  }
});
process.on('disconnect', () => process.exit(0));
await service.start();
send({ type: 'ready' });
