/**
 * The simulated kiosks of a fleet run, all in this process: each with its own key (in memory) and
 * certificate from the test carrier CA, and the agent's real transport, outbox relay and result
 * signer. Connected in waves so the TLS handshakes do not all time out together.
 */
import { once } from 'node:events';
import type { Logger } from '../base/log.js';
import { MemoryOutbox } from '../agent/outbox/memory-outbox.js';
import { OutboxRelay } from '../agent/outbox/relay.js';
import { MqttTransport } from '../agent/transport/mqtt-transport.js';
import { ResultSigner } from '../provisioning/result-signer.js';
import { agentVersion } from '../base/paths.js';
import { findModel, modelDigest, readManifest } from '../models/manifest.js';
import { variantId } from '../models/variants.js';
import { DEFAULT_ENGINE_OPTIONS } from '../models/face-engine.js';
import type { Measurement } from '../protocol/eat.js';
import type { CarrierCa } from '../carrier/ca.js';
import { MemoryKeyStore } from '../base/keys/memory-key-store.js';

/** What a kiosk with the default engine reports in `measurements` (agent/daemon/current-signer.ts): the agent, then its models. */
export async function kioskMeasurements(): Promise<Measurement[]> {
  const manifest = await readManifest();
  const { models, variant } = DEFAULT_ENGINE_OPTIONS;
  const ids = [models.detect, models.landmarks, ...(models.eyeState ? [models.eyeState] : []), ...models.pad, models.embed];
  return [{ id: 'kiosk-agent', version: agentVersion() }, ...ids.map((id) => modelDigest(findModel(manifest, variantId(manifest, id, variant))))];
}

/** Keys and certificates for `ids`, one at a time (told to `onIssued`). */
export async function issueKioskIdentities(ca: CarrierCa, ids: string[], onIssued?: (n: number) => void) {
  const out = [];
  for (const id of ids) {
    const keyStore = new MemoryKeyStore();
    await keyStore.start();
    out.push({ id, keyStore, cert: await ca.issue(keyStore.publicKeySpki(), id, { profile: 'device', validityDays: 1 }) });
    onIssued?.(out.length);
  }
  return out;
}

type Identity = Awaited<ReturnType<typeof issueKioskIdentities>>[number];

/** One simulated kiosk: identity, transport, outbox, relay, signer. */
export type SimKiosk = ReturnType<typeof makeKiosk>;

/** Wires one kiosk's agent pieces (no I/O yet). */
export function makeKiosk(d: Identity, o: { url: string; caPem: string; results: number; measurements: Measurement[]; logger: Logger }) {
  const transport = new MqttTransport({
    options: {
      url: o.url,
      deviceId: d.id,
      ca: o.caPem,
      cert: d.cert.toString('pem'),
      key: d.keyStore.privateKeyPem(),
      keepaliveSec: 60,
      backoff: { baseMs: 500, capMs: 5000 },
    },
    logger: o.logger,
  });
  const outbox = new MemoryOutbox({ limits: { maxMessages: o.results + 10 } });
  const relay = new OutboxRelay({ outbox, transport, logger: o.logger, backoff: { baseMs: 200, capMs: 2000 } });
  const signer = new ResultSigner({ keyStore: d.keyStore, certificate: d.cert, measurements: o.measurements, dbgstat: 'disabled' });
  return { ...d, transport, outbox, relay, signer };
}

/** Starts every kiosk, `concurrency` at a time; resolves with how many came online within 30 s each. */
export async function connectKiosks(sims: SimKiosk[], concurrency: number, onAttempt?: (n: number) => void): Promise<number> {
  let connected = 0;
  let attempted = 0;
  for (let i = 0; i < sims.length; i += concurrency) {
    await Promise.all(
      sims.slice(i, i + concurrency).map(async (s) => {
        const online = once(s.transport.events, 'online');
        await s.outbox.start();
        await s.relay.start();
        await s.transport.start();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          online.then(() => {
            connected++;
          }),
          new Promise((r) => {
            timer = setTimeout(r, 30_000);
          }),
        ]);
        clearTimeout(timer);
        onAttempt?.(++attempted);
      }),
    );
  }
  return connected;
}

/** Stops every kiosk's relay and transport. */
export async function stopKiosks(sims: SimKiosk[]): Promise<void> {
  await Promise.all(
    sims.map(async (s) => {
      await s.relay.stop();
      await s.transport.stop();
    }),
  );
}
