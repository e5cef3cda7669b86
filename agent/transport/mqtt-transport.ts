/**
 * MQTT 5 over mutual TLS with the device certificate. Reconnects itself with exponential backoff
 * and full jitter (mqtt.js's own fixed-period reconnect is off), keeps a retained `status` with a
 * Last Will saying offline, maps PUBACK reason codes to typed errors, and routes `cmd/#` messages.
 */
import { randomBytes } from 'node:crypto';
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

/** A message on a topic added with {@link MqttTransport.subscribe}. */
export type TopicListener = (topic: string, payload: Buffer, properties: IPublishPacket['properties']) => void;

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
  /** The device identity was destroyed (tamper): this transport never connects again. */
  private identityDropped = false;
  /** Topics beyond `cmd/#` (assistance signalling, renewal replies), subscribed again on every connect. */
  private readonly listeners = new Map<string, TopicListener>();
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
    if (this.identityDropped) {
      throw new KioskError('E_KEY_STORE', 'the device identity was destroyed (tamper): the transport does not connect again', { subject: o.deviceId });
    }
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
   * The device identity was destroyed (tamper): closes the connection as `stop()` does (offline
   * status, bounded by `stopWaitMs`) and never reconnects; `start()` refuses from now on (E_KEY_STORE).
   */
  async dropIdentity(): Promise<void> {
    this.identityDropped = true;
    await this.stop();
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

  /**
   * Adds an exact topic (no wildcards) to this connection, subscribed now when online and again on
   * every connect; its messages go to `listener`. E_NOT_AUTHORIZED when the broker refuses it.
   * Everything the kiosk does over MQTT shares this one connection: the broker ties the client id to
   * the certificate, so a second connection with it would throw this one off.
   */
  async subscribe(topic: string, listener: TopicListener): Promise<void> {
    if (/[+#]/.test(topic)) throw new KioskError('E_USAGE', 'subscribe takes an exact topic', { subject: topic });
    this.listeners.set(topic, listener);
    const client = this.client;
    if (client && this.connected) await this.subscribeNow(client, topic);
  }

  /** Removes a topic added with {@link subscribe}. */
  async unsubscribe(topic: string): Promise<void> {
    if (!this.listeners.delete(topic)) return;
    const client = this.client;
    if (client && this.connected) await client.unsubscribeAsync(topic).catch(() => undefined);
  }

  /**
   * One MQTT 5 request/response round trip on this connection: subscribes to a fresh reply topic
   * under `replyPrefix`, publishes `body` with it as response topic and random correlation data, and
   * resolves with the matching answer's payload. E_TRANSPORT when offline, when nobody listens on
   * `topic` (PUBACK 0x10) or after `timeoutMs` without an answer.
   */
  async request(topic: string, body: string, replyPrefix: string, timeoutMs: number): Promise<Buffer> {
    const client = this.client;
    if (!client || !this.connected) throw new KioskError('E_TRANSPORT', 'not connected to the broker', { subject: topic, details: { permanent: false } });
    const responseTopic = replyPrefix + randomBytes(16).toString('base64url');
    const correlationData = randomBytes(16);
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<Buffer>((resolve, reject) => {
      timer = setTimeout(() => reject(new KioskError('E_TRANSPORT', `no answer within ${timeoutMs} ms`, { subject: topic })), timeoutMs);
      this.listeners.set(responseTopic, (_t, payload, props) => {
        if (props?.correlationData && Buffer.from(props.correlationData).equals(correlationData)) resolve(payload);
      });
    });
    try {
      await this.subscribeNow(client, responseTopic);
      const sent = await client.publishAsync(topic, body, { qos: 1, properties: { responseTopic, correlationData, contentType: 'application/json' } });
      if (sent?.messageId !== undefined && this.noSubscribers.delete(sent.messageId))
        throw new KioskError('E_TRANSPORT', 'no carrier service is listening for this request (PUBACK 0x10)', { subject: topic });
      return await answer;
    } catch (err) {
      throw err instanceof KioskError ? err : new KioskError('E_TRANSPORT', `request failed: ${(err as Error).message}`, { subject: topic, cause: err });
    } finally {
      clearTimeout(timer);
      answer.catch(() => undefined);
      await this.unsubscribe(responseTopic);
    }
  }

  private async subscribeNow(client: MqttClient, topic: string): Promise<void> {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    if (granted.some((g) => g.qos > 2)) throw new KioskError('E_NOT_AUTHORIZED', 'the broker refused the subscription', { subject: topic });
  }

  private async onConnect(): Promise<void> {
    this.connected = true;
    this.attempt = 0;
    const client = this.client!;
    try {
      await client.publishAsync(this.topics.status, '{"state":"online"}', { qos: 1, retain: true });
      // Retain handling 2: the broker sends no retained message at subscription. Retain as published:
      // a command published with retain keeps the flag, and onMessage ignores it. A command acts once, live.
      await client.subscribeAsync(this.topics.commands, { qos: 1, rh: 2, rap: true });
      for (const topic of this.listeners.keys()) await this.subscribeNow(client, topic);
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
      if (this.stopping) return;
      try {
        this.client?.reconnect();
      } catch (err) {
        // Node's TLS refuses the key before any socket (a wiped PEM, a token key that is gone): thrown
        // here, in a timer, it would end the process. Retried with backoff like a refused connection.
        this.deps.logger.warn({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code } }, 'reconnect failed before connecting');
        this.onClose();
      }
    }, delayMs);
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (!topic.startsWith(this.topics.commandPrefix)) {
      this.listeners.get(topic)?.(topic, payload, packet.properties);
      return;
    }
    if (packet.retain) {
      // A retained command would act again at every reconnect: it is never a command.
      this.deps.logger.warn({ topic }, 'retained command ignored');
      return;
    }
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
