/**
 * The carrier's verifier as an MQTT 5 consumer. Instances join the shared subscription
 * `$share/verifiers/<prefix>+/result`, so the broker spreads results over however many run. A result
 * is acknowledged (PUBACK) only after it was verified and handed on, and the session is persistent,
 * so a verifier restart or broker restart loses nothing; redeliveries come out as `duplicate`.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { KioskError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { DEFAULT_PREFIX, VERIFIER_GROUP } from '../protocol/names.js';
import type { ResultVerifier, VerifyOutcome } from './verifier.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../protocol/endpoint.js';

export interface VerifierServiceOptions extends MqttTlsEndpoint {
  /** Unique per instance; the persistent session is keyed by it. */
  clientId: string;
  /** Session expiry in seconds (default 3600). */
  sessionExpirySec?: number;
  /** Results in flight from the broker at once (MQTT 5 Receive Maximum, default 100). */
  receiveMaximum?: number;
}

export interface VerifierServiceEvents {
  outcome: [VerifyOutcome & { topic: string; instance: string }];
  connected: [];
}

function refusedBy(filter: string): KioskError {
  return new KioskError('E_NOT_AUTHORIZED', "the broker refused the verifiers' shared subscription: this certificate lacks the verifier role", {
    subject: filter,
  });
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
      // Receive Maximum: the broker keeps at most this many results in flight to this instance.
      // mqtt.js handles incoming packets one at a time, so without a bound a backlog (a restart onto a
      // full persistent session) queues the PINGRESP behind thousands of results and the keepalive fails.
      properties: { sessionExpiryInterval: o.sessionExpirySec ?? 3600, receiveMaximum: o.receiveMaximum ?? 100 },
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    // PUBACK only after the outcome was handled: mqtt.js acknowledges when this callback is called.
    client.handleMessage = (packet, done) => {
      const topic = packet.topic;
      const token = Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8') : String(packet.payload);
      // The device of the topic (the broker lets each kiosk publish only under its own id) must be the
      // token's: checked before the nonce is consumed.
      const device = topic.split('/').at(-2) ?? '';
      this.deps.verifier.verify(token, { publishedBy: device }).then(
        (outcome) => {
          this.events.emit('outcome', { ...outcome, topic, instance: o.clientId });
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
    let refuse: (err: Error) => void = () => undefined;
    client.on('connect', () => {
      client
        .unsubscribeAsync(filter)
        .catch(() => undefined)
        .then(() => client.subscribeAsync(filter, { qos: 1 }))
        .then(
          (granted) => {
            // SUBACK 0x87 (not authorized) arrives as a granted QoS above 2, or as an error carrying the packet.
            if (granted.some((g) => g.qos > 2)) throw refusedBy(filter);
            this.events.emit('connected');
          },
          (err: Error & { packet?: { granted?: number[] } }) => {
            throw err.packet?.granted?.some((c) => c >= 0x80) ? refusedBy(filter) : err;
          },
        )
        .catch((err: Error) => {
          this.deps.logger.error({ err: { message: err.message } }, 'verifier could not subscribe');
          refuse(err);
        });
    });
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'verifier mqtt error'));
    await new Promise<void>((resolve, reject) => {
      refuse = reject;
      this.events.once('connected', resolve);
      client.once('error', reject);
    });
    refuse = () => undefined;
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
  }
}
