/**
 * MQTT 5 over mutual TLS with the device certificate. Reconnects itself with exponential backoff
 * and full jitter (mqtt.js's own fixed-period reconnect is off), keeps a retained `status` with a
 * Last Will saying offline, maps PUBACK reason codes to typed errors, and routes `cmd/#` messages.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { within } from '../../base/clock.js';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { fullJitterDelay, type BackoffOptions } from '../../base/backoff.js';
import { deviceTopics, type DeviceTopics } from '../../protocol/topics.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../../protocol/endpoint.js';

/** Connection settings. */
export interface MqttTransportOptions extends MqttTlsEndpoint {
  deviceId: string;
  /** MQTT client id (default: the device id). */
  clientId?: string;
  /** Keepalive in seconds (default 30). */
  keepaliveSec?: number;
  /** Message expiry of telemetry, in seconds (default 300): stale health figures are not delivered late. */
  telemetryExpirySec?: number;
  backoff?: BackoffOptions;
  /** How long `stop()` waits for the offline status's PUBACK before closing the socket, ms (default 3000). */
  stopWaitMs?: number;
}

/** What the transport needs from outside. */
export interface MqttTransportDeps {
  options: MqttTransportOptions;
  logger: Logger;
  /** [0, 1) source for jitter (default Math.random). */
  random?: () => number;
  /** Timer, injectable for tests (default setTimeout). */
  setTimer?: (fn: () => void, ms: number) => { unref?: () => void } | NodeJS.Timeout;
  clearTimer?: (t: unknown) => void;
  /** Client factory (default mqtt.connect). */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
}

/** A received carrier command. */
export interface IncomingCommand {
  topic: string;
  /** The part after `cmd/`. */
  name: string;
  payload: Buffer;
  responseTopic?: string;
  correlationData?: Buffer;
}

/** Events of the transport. */
export interface TransportEvents {
  online: [];
  offline: [{ reason: string }];
  reconnecting: [{ attempt: number; delayMs: number }];
  command: [IncomingCommand];
}

/** Publish reason codes that mean "do not retry this message". */
const PERMANENT_REASONS = new Set([0x80, 0x83, 0x87, 0x90, 0x95, 0x97, 0x99]);

/** The device side of MQTT. */
export class MqttTransport {
  readonly events = new EventEmitter<TransportEvents>();
  readonly topics: DeviceTopics;
  private client?: MqttClient;
  private attempt = 0;
  private timer?: unknown;
  private stopping = false;
  private connected = false;
  /** Message ids whose PUBACK said 0x10 "no matching subscribers" (mqtt.js resolves those as success). */
  private readonly noSubscribers = new Set<number>();

  constructor(private readonly deps: MqttTransportDeps) {
    this.topics = deviceTopics(deps.options.deviceId, deps.options.prefix);
  }

  get online(): boolean {
    return this.connected;
  }

  /** Connects (without waiting for the broker: an unreachable broker is retried with backoff). */
  async start(): Promise<void> {
    const o = this.deps.options;
    this.stopping = false;
    const client = (this.deps.connect ?? mqtt.connect)(o.url, {
      protocolVersion: 5,
      clientId: o.clientId ?? o.deviceId,
      clean: true,
      keepalive: o.keepaliveSec ?? 30,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...tlsIdentity(o),
      rejectUnauthorized: true,
      will: { topic: this.topics.status, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => void this.onConnect());
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'mqtt error'));
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback' && packet.reasonCode === 0x10 && packet.messageId !== undefined) this.noSubscribers.add(packet.messageId);
    });
  }

  /**
   * Publishes offline status, disconnects, cancels the reconnect timer. The status gets `stopWaitMs`
   * (default 3000) for its PUBACK: over a connection that died without closing it never comes, and a
   * clean disconnect would wait for it too, so the socket is then closed at once (publishes still in
   * flight fail; the broker's Last Will says offline).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const clear = this.deps.clearTimer ?? clearTimeout;
    if (this.timer) clear(this.timer as NodeJS.Timeout);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    let clean = false;
    if (this.connected) {
      const timers = {
        setTimeout: (fn: () => void, ms: number) => (this.deps.setTimer ?? setTimeout)(fn, ms) as object,
        clearTimeout: (h: object | undefined) => clear(h as NodeJS.Timeout),
      };
      const waitMs = this.deps.options.stopWaitMs ?? 3000;
      // Answered at all (even refused): the connection is alive, so disconnect cleanly.
      const answered = client.publishAsync(this.topics.status, '{"state":"offline"}', { qos: 1, retain: true }).then(
        () => true,
        () => true,
      );
      clean = await within(timers, waitMs, answered, false);
      if (!clean) this.deps.logger.warn({ waitedMs: waitMs }, 'no PUBACK for the offline status (connection dead?): socket closed without a clean disconnect');
    }
    await client.endAsync(!clean).catch(() => undefined);
    client.removeAllListeners();
    this.connected = false;
  }

  /**
   * QoS 1 publish; resolves on a successful PUBACK. E_NOT_AUTHORIZED or E_TRANSPORT (with
   * `details.permanent`) otherwise. With `requireSubscriber`, PUBACK 0x10 (nobody subscribed: the
   * carrier's verifiers are not there yet) is a transient failure, so a result is kept and sent again.
   */
  async publish(
    topic: string,
    payload: Buffer | string,
    options: { retain?: boolean; expirySec?: number; qos?: 0 | 1; requireSubscriber?: boolean } = {},
  ): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new KioskError('E_TRANSPORT', 'not connected to the broker', { subject: topic, details: { permanent: false } });
    try {
      const sent = await client.publishAsync(topic, payload, {
        qos: options.qos ?? 1,
        retain: options.retain ?? false,
        ...(options.expirySec ? { properties: { messageExpiryInterval: options.expirySec } } : {}),
      });
      const id = sent?.messageId;
      if (id !== undefined && this.noSubscribers.delete(id) && options.requireSubscriber) {
        throw new KioskError('E_TRANSPORT', 'the broker has no subscriber for this topic (PUBACK 0x10); kept for a later retry', {
          subject: topic,
          details: { reasonCode: 0x10, permanent: false },
        });
      }
    } catch (err) {
      if (err instanceof KioskError) throw err;
      const code = (err as { code?: unknown }).code;
      if (code === 0x87)
        throw new KioskError('E_NOT_AUTHORIZED', 'the broker refused the publish: not authorised (PUBACK 0x87)', {
          subject: topic,
          cause: err,
          details: { reasonCode: code, permanent: true },
        });
      const permanent = typeof code === 'number' && PERMANENT_REASONS.has(code);
      throw new KioskError('E_TRANSPORT', `publish failed: ${(err as Error).message}`, {
        subject: topic,
        cause: err,
        details: { reasonCode: code, permanent },
      });
    }
  }

  /** Telemetry: QoS 0 with message expiry, dropped rather than queued when offline (it is only health). */
  async telemetry(payload: Record<string, unknown>): Promise<void> {
    if (!this.connected) return;
    await this.publish(this.topics.telemetry, JSON.stringify(payload), { qos: 0, expirySec: this.deps.options.telemetryExpirySec ?? 300 });
  }

  /** Answers a command on its response topic with its correlation data. */
  async reply(command: IncomingCommand, body: Record<string, unknown>): Promise<void> {
    if (!command.responseTopic) return;
    const client = this.client;
    if (!client || !this.connected) throw new KioskError('E_TRANSPORT', 'not connected to the broker', { subject: command.responseTopic });
    await client.publishAsync(command.responseTopic, JSON.stringify(body), {
      qos: 1,
      properties: { ...(command.correlationData ? { correlationData: command.correlationData } : {}), contentType: 'application/json' },
    });
  }

  private async onConnect(): Promise<void> {
    this.connected = true;
    this.attempt = 0;
    const client = this.client!;
    try {
      await client.publishAsync(this.topics.status, '{"state":"online"}', { qos: 1, retain: true });
      await client.subscribeAsync(this.topics.commands, { qos: 1 });
    } catch (err) {
      this.deps.logger.error({ err: { message: (err as Error).message } }, 'could not announce status or subscribe to commands');
    }
    this.events.emit('online');
  }

  private onClose(): void {
    const was = this.connected;
    this.connected = false;
    if (was) this.events.emit('offline', { reason: 'connection closed' });
    if (this.stopping || !this.client || this.timer) return;
    const delayMs = fullJitterDelay(this.attempt, this.deps.options.backoff, this.deps.random);
    this.events.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.attempt += 1;
    this.timer = (this.deps.setTimer ?? setTimeout)(() => {
      this.timer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delayMs);
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (!topic.startsWith(this.topics.commandPrefix)) return;
    const props = packet.properties ?? {};
    this.events.emit('command', {
      topic,
      name: topic.slice(this.topics.commandPrefix.length),
      payload,
      responseTopic: props.responseTopic,
      correlationData: props.correlationData ? Buffer.from(props.correlationData) : undefined,
    });
  }
}
