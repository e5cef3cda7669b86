/**
 * Attacks on carrier commands, against the real mosquitto: the kiosk side is the daemon's own
 * transport, command router, command authenticator, SQLite ledger, dispense binding and dispenser on
 * a fake GPIO port; the attacker is a dispatcher connection (the only role the broker lets publish
 * commands, see attacks-foreign-command.test.ts), standing for a compromised dispatcher host or broker
 * that does not hold the carrier's command key. Before commands were signed, every one of these
 * made the kiosk act; before dispensing was bound to the customer present, a late authorisation
 * dispensed during the next customer's session.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { autoConfirm } from '../../agent/daemon/sim.js';
import { DispenseBinding } from '../../agent/daemon/dispense-binding.js';
import { DispenseController } from '../../agent/daemon/dispense.js';
import type { DaemonEvents } from '../../agent/daemon/events.js';
import { Ledger } from '../../agent/daemon/ledger.js';
import { validateConfig } from '../../agent/config/load.js';
import { CommandAuthenticator } from '../../agent/transport/command-auth.js';
import { CommandRouter, type CommandOutcome } from '../../agent/transport/commands.js';
import { MqttTransport } from '../../agent/transport/mqtt-transport.js';
import { CommandSigner } from '../../carrier/commands/signer.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { KioskHardware } from '../../device/kiosk/kiosk.js';
import { TestBroker, tlsOf } from '../helpers/mosquitto.js';
import { TestPki } from '../helpers/pki.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'kiosk-001';
const PREFIX = `kiosk/v1/${DEVICE}/`;
const dir = ownTempDir(t, 'attacks-commands-');
const pki = await TestPki.create(join(dir, 'pki'));
const dev = await pki.issue(DEVICE);
const dispatcherId = await pki.issue('carrier-dispatch-1', 'service');
const broker = await TestBroker.start(pki, join(dir, 'broker'), { devices: [DEVICE, 'kiosk-002'], dispatchers: ['carrier-dispatch-1'] });
t.teardown(() => broker.stop());

const logger = pino({ level: 'silent' });
const carrierKey = await CommandSigner.generate();
const attackerKey = await CommandSigner.generate();
const config = validateConfig({
  deviceId: DEVICE,
  simulate: true,
  stateDir: join(dir, 'state'),
  gpio: { driver: 'fake' },
  kiosk: { arriveMs: 20, leaveMs: 50 },
});

/** The kiosk's side, as composeDaemon wires it (ledger at a fixed path, so a restart keeps what it remembered). */
async function startKiosk() {
  const bus = new EventEmitter<DaemonEvents>();
  const ledger = new Ledger({ path: join(dir, 'state', 'results.db') });
  await ledger.start();
  const gpio = new FakeGpioPort({ pins: config.gpio.pins });
  const kiosk = new KioskHardware({ gpio, pins: config.gpio.pins, timings: { ...config.kiosk, pulseMs: 20, confirmTimeoutMs: 2000 } });
  await kiosk.start();
  kiosk.events.on('left', () => bus.emit('left', {}));
  const stopConfirm = autoConfirm(gpio, 10, logger);
  const binding = new DispenseBinding({ bus, ledger, present: () => kiosk.present, logger });
  binding.listen();
  const dispenser = new DispenseController({ kiosk, ledger, binding, authorizeWithinMs: 120_000, bus, logger, inService: () => true });
  const handled: string[] = [];
  const note = (name: string) => async (): Promise<CommandOutcome> => {
    handled.push(name);
    return { ok: true };
  };
  const auth = new CommandAuthenticator({ keys: [carrierKey.entry], deviceId: DEVICE, used: ledger, maxLifetimeSec: 120, clockSkewSec: 30 });
  await auth.start();
  const transport = new MqttTransport({ options: { url: broker.url, deviceId: DEVICE, ...tlsOf(pki, dev), backoff: { baseMs: 100, capMs: 400 } }, logger });
  const router = new CommandRouter({
    transport,
    auth,
    logger,
    resultVerdict: async (jti) => ledger.verdict(jti),
    handlers: {
      start_session: note('start_session'),
      authorize_dispense: async (c) => {
        handled.push(`authorize_dispense:${c.jti}`);
        return dispenser.authorize(c);
      },
      config: note('config'),
      clear_alarm: note('clear_alarm'),
    },
  });
  await router.start();
  const online = new Promise((r) => transport.events.once('online', () => r(undefined)));
  await transport.start();
  await online;
  const pulses = () => gpio.history('dispense_pulse').filter((w) => w.value).length;
  const stop = async () => {
    await router.stop();
    await transport.stop();
    stopConfirm();
    await kiosk.stop();
    binding.unlisten();
    await ledger.stop();
  };
  /** A session of the customer present finished with `verdict`; its result is in the ledger. */
  const finishSession = (sessionId: string, jti: string, verdict: 'accept' | 'reject' = 'accept') => {
    bus.emit('session_started', { sessionId, trigger: 'command', nonceSource: 'carrier', steps: 2 });
    ledger.record(jti, verdict);
    bus.emit('session_finished', { sessionId, jti, verdict, reasons: [], cancelReason: null });
  };
  return { bus, gpio, kiosk, handled, pulses, stop, finishSession };
}

const dispatcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'carrier-dispatch-1', reconnectPeriod: 0, ...tlsOf(pki, dispatcherId) });
t.teardown(() => dispatcher.endAsync());
const replies = new Map<string, (b: Record<string, unknown>) => void>();
dispatcher.on('message', (_topic, payload, packet) => {
  const id = packet.properties?.correlationData?.toString();
  if (id) replies.get(id)?.(JSON.parse(payload.toString()) as Record<string, unknown>);
});
await dispatcher.subscribeAsync(`${PREFIX}reply/#`, { qos: 1 });
let seq = 0;
/** Publishes `payload` on the kiosk's `cmd/<name>` and waits for its reply. */
const send = async (name: string, payload: string, options: { retain?: boolean; device?: string } = {}) => {
  const id = `r${++seq}`;
  const reply = new Promise<Record<string, unknown>>((resolve) => replies.set(id, resolve));
  const prefix = `kiosk/v1/${options.device ?? DEVICE}/`;
  await dispatcher.publishAsync(`${prefix}cmd/${name}`, payload, {
    qos: 1,
    retain: options.retain ?? false,
    properties: { responseTopic: `${prefix}reply/${id}`, correlationData: Buffer.from(id) },
  });
  return Promise.race([reply, new Promise<Record<string, unknown>>((r) => setTimeout(() => r({ timeout: true }), 3000))]);
};
const signed = (name: string, args: Record<string, unknown>, o: Parameters<CommandSigner['sign']>[3] & { key?: CommandSigner; aud?: string } = {}) =>
  (o.key ?? carrierKey).sign(o.aud ?? DEVICE, name, args, o);

const kiosk = await startKiosk();
t.teardown(() => kiosk.stop());
const present = async (yes: boolean) => {
  kiosk.gpio.drive('presence', yes);
  await waitFor(`presence ${yes}`, () => kiosk.kiosk.present === yes, 3000);
};
await present(true);

t.test('unsigned, foreign-key, replayed, expired, wrong-kiosk and wrong-command commands are refused', async (t) => {
  kiosk.finishSession('s-1', 'result-1');
  const args = { jti: 'result-1', session_id: 's-1' };
  t.match(await send('authorize_dispense', JSON.stringify(args)), { ok: false, reason: 'unsigned' }, 'unsigned JSON, as before signing');
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', args, { key: attackerKey })),
    { ok: false, reason: 'unknown_key' },
    'signed by a key the kiosk does not trust',
  );
  const forged = (await signed('authorize_dispense', args, { key: attackerKey })).split('.');
  const carrierHeader = (await signed('authorize_dispense', args)).split('.')[0];
  t.match(
    await send('authorize_dispense', [carrierHeader, forged[1], forged[2]].join('.')),
    { ok: false, reason: 'bad_signature' },
    "the carrier's kid on a foreign signature",
  );
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', args, { now: new Date(Date.now() - 600_000), lifetimeSec: 60 })),
    { ok: false, reason: 'expired' },
    'expired ten minutes ago',
  );
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', args, { lifetimeSec: 86_400 })),
    { ok: false, reason: 'expired' },
    'a day-long token',
  );
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', args, { aud: 'kiosk-002' })),
    { ok: false, reason: 'wrong_kiosk' },
    "another kiosk's token",
  );
  t.match(await send('authorize_dispense', await signed('start_session', args)), { ok: false, reason: 'wrong_command' }, 'a token for another command');
  t.equal(kiosk.pulses(), 0, 'nothing dispensed');
  const good = await signed('authorize_dispense', args);
  t.match(await send('authorize_dispense', good), { ok: true, state: 'dispensed' }, 'the genuine command dispenses');
  t.equal(kiosk.pulses(), 1);
  t.match(await send('authorize_dispense', good), { ok: false, reason: 'replayed' }, 'the same token again');
  t.equal(kiosk.pulses(), 1, 'once');
  t.same(kiosk.handled, ['authorize_dispense:result-1'], 'only the genuine command reached a handler');
});

t.test('a used command stays used across a restart (remembered in the ledger)', async (t) => {
  const token = await signed('clear_alarm', {});
  t.match(await send('clear_alarm', token), { ok: true });
  await kiosk.stop();
  const again = await startKiosk();
  t.teardown(() => again.stop());
  t.match(await send('clear_alarm', token), { ok: false, reason: 'replayed' }, 'replayed after the restart');
  t.same(again.handled, [], 'not acted on');
  await again.stop();
  Object.assign(kiosk, await startKiosk());
  await present(true);
});

t.test('late authorisation: after the customer left, during the next session, for an older result or another session', async (t) => {
  kiosk.finishSession('s-a', 'result-a');
  await present(false);
  await waitFor('the customer left', () => kiosk.handled !== undefined && !kiosk.kiosk.present, 3000);
  await new Promise((r) => setTimeout(r, 100)); // leaveMs
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-a', session_id: 's-a' })),
    { ok: false, reason: 'not_current' },
    'after the customer left',
  );
  await present(true);
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-a', session_id: 's-a' })),
    { ok: false, reason: 'not_current' },
    'the void is kept when someone arrives again',
  );

  kiosk.finishSession('s-b', 'result-b');
  kiosk.bus.emit('session_started', { sessionId: 's-c', trigger: 'presence', nonceSource: 'device', steps: 2 });
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-b', session_id: 's-b' })),
    { ok: false, reason: 'not_current' },
    "during the next customer's session",
  );

  kiosk.finishSession('s-d', 'result-d');
  kiosk.finishSession('s-e', 'result-e');
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-d', session_id: 's-d' })),
    { ok: false, reason: 'not_current' },
    'an older result',
  );
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-e', session_id: 's-d' })),
    { ok: false, reason: 'not_current' },
    'the wrong session',
  );
  t.equal(kiosk.pulses(), 0, 'nothing dispensed');
  t.match(
    await send('authorize_dispense', await signed('authorize_dispense', { jti: 'result-e', session_id: 's-e' })),
    { ok: true, state: 'dispensed' },
    'the current one does',
  );
});

t.test('a retained command is never acted on', async (t) => {
  await kiosk.stop();
  // Published retained while the kiosk is away: the broker keeps it and would hand it over at every subscribe.
  await dispatcher.publishAsync(`${PREFIX}cmd/clear_alarm`, await signed('clear_alarm', {}), { qos: 1, retain: true });
  const again = await startKiosk();
  t.teardown(() => again.stop());
  await new Promise((r) => setTimeout(r, 1000));
  t.same(again.handled, [], 'the retained command did not reach a handler after the reconnect');
  const live = await send('clear_alarm', await signed('clear_alarm', {}), { retain: true });
  t.same(again.handled, [], 'nor a live command published with retain');
  t.match(live, { timeout: true }, 'and it was not answered');
  await dispatcher.publishAsync(`${PREFIX}cmd/clear_alarm`, '', { qos: 1, retain: true });
});
