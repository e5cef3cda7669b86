import { readFileSync } from 'node:fs';
import type { PolicyInput } from '../../carrier/broker/policy.js';
import { LocalBroker } from '../../carrier/broker/local-broker.js';
import type { TestPki } from './pki.js';

export { freePort } from '../../carrier/broker/local-broker.js';

/** A mosquitto started by a test (see carrier/broker/local-broker.ts): TLS with client certificates, dynamic security, persistence. */
export type TestBroker = LocalBroker;

export const TestBroker = {
  /** Issues the broker's server certificate from `pki`, writes policy and config into `dir`, starts the broker. */
  async start(
    pki: TestPki,
    dir: string,
    policy: PolicyInput,
    extra: { maxQueuedMessages?: number; websockets?: 'ws' | 'wss'; crl?: string | Uint8Array } = {},
  ): Promise<LocalBroker> {
    const server = await pki.issue('localhost', 'server');
    return LocalBroker.start({
      dir,
      policy,
      ...extra,
      tls: { ca: readFileSync(pki.caPath), cert: readFileSync(server.certPath), key: readFileSync(server.keyPath) },
    });
  },
};

/** TLS material of an identity for mqtt.js. */
export function tlsOf(pki: TestPki, id: { keyPath: string; certPath: string }): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(pki.caPath), cert: readFileSync(id.certPath), key: readFileSync(id.keyPath) };
}
