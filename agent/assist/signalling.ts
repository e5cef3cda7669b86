/**
 * Signalling of remote assistance (offer, answer, ICE candidates, hang-up) over MQTT on the kiosk's
 * own topics: the kiosk publishes on `<prefix><id>/assist/signal/kiosk` and reads
 * `<prefix><id>/assist/signal/operator`. The broker policy lets only this device and the operators
 * assigned to it use them; the operator's decision itself is signed (see decision.ts).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../base/log.js';
import type { DeviceTopics } from '../../protocol/topics.js';

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

/** What the signalling uses of the kiosk's MQTT transport (agent/transport/mqtt-transport.ts). */
export interface SignallingTransport {
  readonly topics: Pick<DeviceTopics, 'assistFromOperator' | 'assistToOperator'>;
  subscribe(topic: string, listener: (topic: string, payload: Buffer) => void): Promise<void>;
  unsubscribe(topic: string): Promise<void>;
  publish(topic: string, payload: string, options?: { qos?: 0 | 1 }): Promise<void>;
}

/**
 * Signalling on the kiosk's own transport connection. It has no connection of its own: the broker
 * ties the client id to the certificate, so a second connection with the device certificate would
 * throw the transport's off. The operator topic is subscribed whenever the transport is online
 * (again after each reconnect); `send` fails with E_TRANSPORT while it is offline.
 */
export class TransportAssistSignalling implements AssistSignalling {
  readonly events = new EventEmitter<{ message: [SignalMessage] }>();
  private readonly listener = (topic: string, payload: Buffer): void => {
    const m = parseSignal(payload);
    if (m) this.events.emit('message', m);
    else this.deps.logger.warn({ topic }, 'malformed assist signal ignored');
  };

  constructor(private readonly deps: { transport: SignallingTransport; logger: Logger }) {}

  async start(): Promise<void> {
    await this.deps.transport.subscribe(this.deps.transport.topics.assistFromOperator, this.listener);
  }

  async stop(): Promise<void> {
    await this.deps.transport.unsubscribe(this.deps.transport.topics.assistFromOperator);
  }

  async send(message: SignalMessage): Promise<void> {
    await this.deps.transport.publish(this.deps.transport.topics.assistToOperator, JSON.stringify(message), { qos: 1 });
  }
}
