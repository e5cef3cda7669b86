/**
 * Signalling of remote assistance (offer, answer, ICE candidates, hang-up) over MQTT on the kiosk's
 * own topics: the kiosk publishes on `<prefix><id>/assist/signal/kiosk` and reads
 * `<prefix><id>/assist/signal/operator`. The broker policy lets only this device and the carrier's
 * operators use them, so a message here is as authenticated as a carrier command.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { deviceTopics } from '../../protocol/topics.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../../protocol/endpoint.js';

/** One signalling message; `assist_id` names the call. */
export interface SignalMessage {
  type: 'offer' | 'answer' | 'candidate' | 'bye';
  assist_id: string;
  sdp?: string;
  candidate?: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null;
  [k: string]: unknown;
}

/** The two directions of signalling, as the assist service sees them. */
export interface AssistSignalling {
  readonly events: EventEmitter<{ message: [SignalMessage] }>;
  start(): Promise<void>;
  stop(): Promise<void>;
  send(message: SignalMessage): Promise<void>;
}

/** Parses a message from an operator; undefined for anything that is not a well-formed signal. */
export function parseSignal(payload: Buffer | string): SignalMessage | undefined {
  if (payload.length > 64 * 1024) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const m = v as SignalMessage;
  if (!['offer', 'answer', 'candidate', 'bye'].includes(m.type) || typeof m.assist_id !== 'string' || m.assist_id.length > 128) return undefined;
  if (m.sdp !== undefined && typeof m.sdp !== 'string') return undefined;
  return m;
}

/** Connection of the assist signalling: the device's own mutual-TLS identity. */
export interface MqttSignallingOptions extends MqttTlsEndpoint {
  deviceId: string;
  /** Client id (default `<deviceId>-assist`, beside the transport's own connection). */
  clientId?: string;
}

/**
 * Signalling through its own MQTT 5 connection with the device certificate (the transport only
 * routes `cmd/#`); the connection exists while the service runs.
 */
export class MqttAssistSignalling implements AssistSignalling {
  readonly events = new EventEmitter<{ message: [SignalMessage] }>();
  private client?: MqttClient;
  private readonly topics;

  constructor(private readonly deps: { options: MqttSignallingOptions; logger: Logger; connect?: (url: string, o: IClientOptions) => Promise<MqttClient> }) {
    this.topics = deviceTopics(deps.options.deviceId, deps.options.prefix);
  }

  async start(): Promise<void> {
    const o = this.deps.options;
    const client = await (this.deps.connect ?? mqtt.connectAsync)(o.url, {
      protocolVersion: 5,
      clientId: o.clientId ?? `${o.deviceId}-assist`,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic !== this.topics.assistFromOperator) return;
      const m = parseSignal(payload);
      if (m) this.events.emit('message', m);
      else this.deps.logger.warn({ topic }, 'malformed assist signal ignored');
    });
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'assist signalling mqtt error'));
    const granted = await client.subscribeAsync(this.topics.assistFromOperator, { qos: 1 });
    if (granted.some((g) => g.qos > 2))
      throw new KioskError('E_NOT_AUTHORIZED', 'the broker refused the assist signalling subscription', { subject: this.topics.assistFromOperator });
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
  }

  async send(message: SignalMessage): Promise<void> {
    if (!this.client) throw new KioskError('E_TRANSPORT', 'assist signalling is not connected', { subject: this.topics.assistToOperator });
    await this.client.publishAsync(this.topics.assistToOperator, JSON.stringify(message), { qos: 1, properties: { contentType: 'application/json' } });
  }
}
