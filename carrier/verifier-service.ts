/**
 * The carrier's verifier as an MQTT 5 consumer. Instances join the shared subscription
 * `$share/verifiers/<prefix>+/result`, so the broker spreads results over however many run. A result
 * is acknowledged (PUBACK) only after it was verified and handed on, and the session is persistent,
 * so a verifier restart or broker restart loses nothing; redeliveries come out as `duplicate`.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../base/log.js';
import { DEFAULT_PREFIX, VERIFIER_GROUP } from '../protocol/names.js';
import type { ResultVerifier, VerifyOutcome } from './verifier.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../protocol/endpoint.js';

export interface VerifierServiceOptions extends MqttTlsEndpoint {
  /** Unique per instance; the persistent session is keyed by it. */
  clientId: string;
  /** Session expiry in seconds (default 3600). */
  sessionExpirySec?: number;
}

export interface VerifierServiceEvents {
  outcome: [VerifyOutcome & { topic: string; instance: string }];
  connected: [];
}

export class VerifierService {
  readonly events = new EventEmitter<VerifierServiceEvents>();
  private client?: MqttClient;

  constructor(private readonly deps: { options: VerifierServiceOptions; verifier: ResultVerifier; logger: Logger }) {}

  /** Connects and subscribes; resolves once subscribed. */
  async start(): Promise<void> {
    const o = this.deps.options;
    const client = mqtt.connect(o.url, {
      protocolVersion: 5,
      clientId: o.clientId,
      clean: false,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      properties: { sessionExpiryInterval: o.sessionExpirySec ?? 3600 },
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    // PUBACK only after the outcome was handled: mqtt.js acknowledges when this callback is called.
    client.handleMessage = (packet, done) => {
      const topic = packet.topic;
      const token = Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8') : String(packet.payload);
      this.deps.verifier.verify(token).then(
        (outcome) => {
          const device = topic.split('/').at(-2);
          const checked: VerifyOutcome =
            outcome.status !== 'rejected' && outcome.deviceId !== device
              ? { status: 'rejected', reason: 'device_mismatch', detail: `published under ${device}`, deviceId: outcome.deviceId, jti: outcome.jti }
              : outcome;
          this.events.emit('outcome', { ...checked, topic, instance: o.clientId });
          done();
        },
        (err: Error) => {
          this.deps.logger.error({ err: { message: err.message }, topic }, 'verification failed; message not acknowledged');
        },
      );
    };
    // Unsubscribe and subscribe again on every connect: mosquitto 2.0.11 restores a shared
    // subscription from its persistence file in a state that no longer matches (publishers get
    // PUBACK 0x10), and a plain re-subscribe does not repair it.
    const filter = `$share/${VERIFIER_GROUP}/${o.prefix ?? DEFAULT_PREFIX}+/result`;
    client.on('connect', () => {
      client
        .unsubscribeAsync(filter)
        .catch(() => undefined)
        .then(() => client.subscribeAsync(filter, { qos: 1 }))
        .then(
          () => this.events.emit('connected'),
          (err: Error) => this.deps.logger.error({ err: { message: err.message } }, 'verifier could not subscribe'),
        );
    });
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'verifier mqtt error'));
    await new Promise<void>((resolve, reject) => {
      this.events.once('connected', resolve);
      client.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
  }
}
