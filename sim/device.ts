/**
 * A simulated kiosk for carriers' load and failure tests: the real agent pieces (file key store,
 * signer, SQLite outbox, relay, MQTT transport) producing results for nonces it was given. Progress
 * is kept next to the outbox, so a SIGKILLed device picks up where it was; a result stored but not
 * yet recorded as produced is stored again under the same jti (the outbox and the carrier dedupe).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../base/log.js';
import { OutboxRelay } from '../agent/outbox/relay.js';
import { SqliteOutbox } from '../agent/outbox/sqlite-outbox.js';
import { MqttTransport } from '../agent/transport/mqtt-transport.js';
import { ResultSigner } from '../provisioning/result-signer.js';
import { FileKeyStore, writeFileAtomic } from '../base/keys/file-key-store.js';
import { parseCertificate } from '../base/keys/x509.js';

/** One simulated device. */
export interface SimDeviceConfig {
  url: string;
  deviceId: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Directory for outbox.db and progress.json. */
  stateDir: string;
  /** One nonce per result to produce. */
  nonces: string[];
  /** Plan to put in each result, from its nonce (the session's derivePlan in real kiosks). */
  plan?: (nonce: string) => unknown;
  /** Pause between results, ms (default 0). */
  intervalMs?: number;
}

/** Runs a device until every result is produced and acknowledged; returns a stop function too. */
export async function runSimDevice(cfg: SimDeviceConfig, logger: Logger, signal?: AbortSignal): Promise<{ produced: number }> {
  const keyStore = new FileKeyStore({ path: cfg.keyPath, create: false });
  await keyStore.start();
  const certificate = parseCertificate(await readFile(cfg.certPath, 'utf8'), cfg.certPath);
  const outbox = new SqliteOutbox({ path: join(cfg.stateDir, 'outbox.db') });
  const transport = new MqttTransport({
    options: {
      url: cfg.url,
      deviceId: cfg.deviceId,
      ca: await readFile(cfg.caPath),
      cert: await readFile(cfg.certPath),
      key: await readFile(cfg.keyPath),
      backoff: { baseMs: 200, capMs: 5000 },
    },
    logger,
  });
  const relay = new OutboxRelay({ outbox, transport, logger, backoff: { baseMs: 100, capMs: 2000 } });
  let index = 0;
  const signer = new ResultSigner({ keyStore, certificate, measurements: [{ id: 'agent' }], newId: () => `${cfg.deviceId}-${index}` });
  const progressPath = join(cfg.stateDir, 'progress.json');
  const done = await readFile(progressPath, 'utf8').then(
    (t) => (JSON.parse(t) as { next: number }).next,
    () => 0,
  );
  await outbox.start();
  await relay.start();
  await transport.start();
  try {
    for (index = done; index < cfg.nonces.length && !signal?.aborted; index++) {
      const nonce = cfg.nonces[index];
      const s = await signer.sign(nonce, { verdict: 'accept', reasons: [], scores: { liveness: 0.9 }, plan: cfg.plan?.(nonce) });
      await outbox.put({ jti: s.jti, topic: transport.topics.result, payload: Buffer.from(s.token) });
      await writeFileAtomic(progressPath, JSON.stringify({ next: index + 1 }));
      if (cfg.intervalMs) await new Promise((r) => setTimeout(r, cfg.intervalMs));
    }
    while (!signal?.aborted && (await outbox.stats()).pending > 0) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        relay.events.once('delivered', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  } finally {
    await relay.stop();
    await transport.stop();
    await outbox.stop();
    await keyStore.stop();
  }
  return { produced: index - done };
}
