/**
 * The carrier's enrolment responder on MQTT 5: instances share `$share/enrol/<prefix>enrol/request`
 * and `$share/enrol/<prefix>+/renew`, ask the {@link EnrolmentAuthority}, and answer on the
 * request's response topic with its correlation data. After enrolling a new device it can add the
 * device's role to the broker (dynamic security, `$CONTROL`), so the kiosk can connect with its
 * certificate at once.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { addDeviceCommands } from '../broker/policy.js';
import { DEFAULT_PREFIX } from '../../protocol/names.js';
import type { Decision, EnrolmentAuthority } from './authority.js';
import { enrolTopics, isReplyTopic, parseEnrolRequest, parseRenewRequest, renewTopicDevice, type EnrolReply } from '../../protocol/enrol.js';
import { tlsIdentity, type MqttTlsEndpoint } from '../../protocol/endpoint.js';

/** The certificate is this service's (OU=service, CN carrier-*). */
export interface EnrolmentServiceOptions extends MqttTlsEndpoint {
  clientId: string;
  /** Add each newly enrolled device to the broker's dynamic-security policy (needs the dynsec-admin role). */
  registerWithBroker?: boolean;
}

/** One answered request. */
export interface EnrolmentDecisionEvent {
  kind: 'enrol' | 'renew';
  deviceId?: string;
  ok: boolean;
  reason?: string;
}

export interface EnrolmentServiceEvents {
  decision: [EnrolmentDecisionEvent];
}

const DYNSEC = '$CONTROL/dynamic-security/v1';

export class EnrolmentService {
  readonly events = new EventEmitter<EnrolmentServiceEvents>();
  private client?: MqttClient;
  private readonly pending = new Map<string, (error?: string) => void>();

  constructor(private readonly deps: { options: EnrolmentServiceOptions; authority: EnrolmentAuthority; logger: Logger }) {}

  /** Connects and subscribes; resolves once subscribed. */
  async start(): Promise<void> {
    const o = this.deps.options;
    const topics = enrolTopics(o.prefix);
    const client = await mqtt.connectAsync(o.url, {
      protocolVersion: 5,
      clientId: o.clientId,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...tlsIdentity(o),
      rejectUnauthorized: true,
    });
    this.client = client;
    // Acknowledge at once and answer concurrently: mqtt.js hands over messages one at a time, and
    // registering a device waits for the broker's $CONTROL answer, itself a message. A request whose
    // answer is lost is simply asked again by the kiosk (the same key is answered again).
    client.handleMessage = (packet, done) => {
      done();
      this.handle(packet).catch((err: Error) => {
        this.deps.logger.error({ err: { message: err.message }, topic: packet.topic }, 'enrolment request failed');
      });
    };
    client.on('error', (err) => this.deps.logger.warn({ err: { message: err.message } }, 'enrolment service mqtt error'));
    const filters = [...topics.serviceFilters, ...(o.registerWithBroker ? [`${DYNSEC}/response`] : [])];
    const subscribe = async () => {
      const granted = await client.subscribeAsync(filters, { qos: 1 });
      const refused = granted.filter((g) => g.qos > 2);
      if (refused.length) throw new KioskError('E_NOT_AUTHORIZED', `the broker refused the subscription ${refused[0].topic}`, { subject: o.clientId });
    };
    client.on('connect', (ack) => {
      if (ack.sessionPresent === false)
        subscribe().catch((err: Error) => this.deps.logger.error({ err: { message: err.message } }, 'enrolment service could not subscribe'));
    });
    await subscribe();
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    for (const resolve of this.pending.values()) resolve('stopped');
    this.pending.clear();
    if (c) await c.endAsync().catch(() => undefined);
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const prefix = this.deps.options.prefix ?? DEFAULT_PREFIX;
    const topics = enrolTopics(prefix);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === `${DYNSEC}/response`) return this.onDynsecResponse(payload);
    const responseTopic = packet.properties?.responseTopic;
    const correlationData = packet.properties?.correlationData;
    let kind: 'enrol' | 'renew';
    let decision: Decision;
    if (packet.topic === topics.request) {
      kind = 'enrol';
      if (!isReplyTopic(responseTopic, topics.replyPrefix)) return this.drop(packet.topic, 'no valid response topic');
      const req = parseEnrolRequest(payload);
      decision = typeof req === 'string' ? malformed(req) : await this.deps.authority.enrol(req);
      if (decision.reply.ok && this.deps.options.registerWithBroker) {
        try {
          await this.registerDevice(decision.deviceId!);
        } catch (err) {
          decision = {
            reply: { ok: false, code: 'E_TRANSPORT', reason: 'internal', detail: `the broker did not accept the new device: ${(err as Error).message}` },
          };
        }
      }
    } else {
      kind = 'renew';
      const deviceId = renewTopicDevice(packet.topic, prefix);
      if (!deviceId || !isReplyTopic(responseTopic, topics.renewReplyPrefix(deviceId))) return this.drop(packet.topic, 'no valid response topic');
      const req = parseRenewRequest(payload);
      decision = typeof req === 'string' ? malformed(req) : await this.deps.authority.renew(deviceId, req);
      decision.deviceId ??= deviceId;
    }
    await this.reply(responseTopic!, correlationData, decision.reply);
    const ev: EnrolmentDecisionEvent = {
      kind,
      deviceId: decision.deviceId,
      ok: decision.reply.ok,
      ...(decision.reply.ok ? {} : { reason: decision.reply.reason }),
    };
    if (ev.ok) this.deps.logger.info(ev, `${kind} answered with a certificate`);
    else this.deps.logger.warn({ ...ev, detail: (decision.reply as { detail: string }).detail }, `${kind} refused`);
    this.events.emit('decision', ev);
  }

  private drop(topic: string, why: string): void {
    this.deps.logger.warn({ topic }, `enrolment request ignored: ${why}`);
  }

  private async reply(topic: string, correlationData: Buffer | undefined, body: EnrolReply): Promise<void> {
    await this.client!.publishAsync(topic, JSON.stringify(body), {
      qos: 1,
      properties: { contentType: 'application/json', ...(correlationData ? { correlationData } : {}) },
    });
  }

  /** Adds the device's role and client through $CONTROL; "already exists" counts as done. */
  private async registerDevice(deviceId: string): Promise<void> {
    const commands = addDeviceCommands(deviceId, this.deps.options.prefix).map((c) => ({ ...c, correlationData: randomUUID() }));
    const answers = commands.map(
      (c) =>
        new Promise<string | undefined>((resolve) => {
          const timer = setTimeout(() => {
            this.pending.delete(c.correlationData);
            resolve('no answer from the broker within 5 s');
          }, 5000);
          this.pending.set(c.correlationData, (error) => {
            clearTimeout(timer);
            this.pending.delete(c.correlationData);
            resolve(error);
          });
        }),
    );
    await this.client!.publishAsync(DYNSEC, JSON.stringify({ commands }), { qos: 1 });
    for (const error of await Promise.all(answers)) {
      if (error && !/already exists/i.test(error)) throw new KioskError('E_TRANSPORT', error, { subject: deviceId });
    }
  }

  private onDynsecResponse(payload: Buffer): void {
    try {
      const { responses } = JSON.parse(payload.toString('utf8')) as { responses?: { correlationData?: string; error?: string }[] };
      for (const r of responses ?? []) if (r.correlationData) this.pending.get(r.correlationData)?.(r.error);
    } catch (err) {
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'unreadable dynamic-security response');
    }
  }
}

function malformed(detail: string): Decision {
  return { reply: { ok: false, code: 'E_CERTIFICATE', reason: 'malformed', detail } };
}
