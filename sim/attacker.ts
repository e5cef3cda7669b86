/**
 * An attacker inside the fleet simulation: one stolen kiosk certificate (its own role on the broker,
 * like any kiosk) that, while the fleet runs, keeps trying what issue 12 found possible before the
 * broker tied client ids to certificates and split the carrier's roles: connect under a fleet
 * kiosk's client id (to throw it off), under a verifier's (to take its persistent session and queued
 * results), join the verifiers' shared group, send a kiosk a command, and publish a result under
 * another kiosk. Every attempt is counted with its outcome; an attack "succeeds" when the broker
 * lets it through.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { VERIFIER_GROUP } from '../protocol/names.js';

export type AttackName = 'kiosk_client_id' | 'verifier_session' | 'verifier_group' | 'foreign_command' | 'foreign_result';

export interface AttackReport {
  tried: Record<AttackName, number>;
  succeeded: Record<AttackName, number>;
}

export interface AttackerOptions {
  url: string;
  tls: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };
  /** The fleet's kiosk ids (victims) and verifier client ids. */
  kiosks: string[];
  verifiers: string[];
  prefix: string;
  /** How many times kiosk `id` lost its broker connection so far (its transport's `offline` events). */
  dropsOf: (id: string) => number;
}

const names: AttackName[] = ['kiosk_client_id', 'verifier_session', 'verifier_group', 'foreign_command', 'foreign_result'];

/** Runs attack rounds until `stop()`; `report()` counts them. */
export class FleetAttacker {
  private readonly tried = Object.fromEntries(names.map((n) => [n, 0])) as Record<AttackName, number>;
  private readonly succeeded = Object.fromEntries(names.map((n) => [n, 0])) as Record<AttackName, number>;
  private running = false;
  private loop?: Promise<void>;
  private round = 0;

  constructor(private readonly o: AttackerOptions) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<AttackReport> {
    this.running = false;
    await this.loop;
    return this.report();
  }

  report(): AttackReport {
    return { tried: { ...this.tried }, succeeded: { ...this.succeeded } };
  }

  private async run(): Promise<void> {
    while (this.running) {
      const victim = this.o.kiosks[this.round % this.o.kiosks.length];
      const verifier = this.o.verifiers[this.round % this.o.verifiers.length];
      this.round++;
      await this.attempt('kiosk_client_id', async () => {
        // Succeeds when the victim kiosk is thrown off the broker while the attacker holds its id.
        const before = this.o.dropsOf(victim);
        const c = await this.connect(victim);
        await new Promise((r) => setTimeout(r, 300));
        await c.endAsync(true);
        return this.o.dropsOf(victim) > before;
      });
      await this.attempt('verifier_session', async () => {
        const c = await this.connect(verifier, { clean: false, properties: { sessionExpiryInterval: 60 } });
        let got = 0;
        c.on('message', () => got++);
        await new Promise((r) => setTimeout(r, 200));
        await c.endAsync(true);
        return got > 0;
      });
      const c = await this.connect(`attacker-${this.round}`).catch(() => undefined);
      if (!c) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      await this.attempt('verifier_group', async () => {
        const granted = await c.subscribeAsync(`$share/${VERIFIER_GROUP}/${this.o.prefix}+/result`, { qos: 1 });
        return granted.every((g) => g.qos <= 2);
      });
      await this.attempt('foreign_command', async () =>
        c.publishAsync(`${this.o.prefix}${victim}/cmd/authorize_dispense`, '{"jti":"x","session_id":"y"}', { qos: 1 }).then(
          () => true,
          () => false,
        ),
      );
      await this.attempt('foreign_result', async () =>
        c.publishAsync(`${this.o.prefix}${victim}/result`, 'forged', { qos: 1 }).then(
          () => true,
          () => false,
        ),
      );
      await c.endAsync(true).catch(() => undefined);
    }
  }

  /** One attack; a round, once begun, runs to its end, so every attack is tried at least once. */
  private async attempt(name: AttackName, fn: () => Promise<boolean>): Promise<void> {
    this.tried[name]++;
    if (await fn().catch(() => false)) this.succeeded[name]++;
  }

  private connect(clientId: string, extra: IClientOptions = {}): Promise<MqttClient> {
    return mqtt.connectAsync(this.o.url, {
      protocolVersion: 5,
      clientId,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      rejectUnauthorized: true,
      ...this.o.tls,
      ...extra,
    });
  }
}
