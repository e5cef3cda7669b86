import type { TLSSocket } from 'node:tls';
import type { MqttClient } from 'mqtt';
import type { DaemonDeps } from '../../agent/daemon/compose.js';
import { FakeFrameSource } from '../../device/camera/fake-source.js';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';

/**
 * Daemon dependencies from build.ts with stand-ins for what a transport/renewal test does not use:
 * no models are loaded, no camera is opened, GPIO is in memory.
 */
export function withoutEngineAndCamera(deps: DaemonDeps): DaemonDeps {
  const unused = async () => {
    throw new Error('not used in this test');
  };
  const info = { runtimes: [], models: [] };
  return {
    ...deps,
    engine: { analyze: unused, decide: unused, info: () => info, start: async () => info, stop: async () => {} },
    camera: new FakeFrameSource({ width: 64, height: 48, fps: 0, allowVirtual: true }),
    gpio: new FakeGpioPort({ pins: deps.config.gpio.pins }),
  };
}

/** Serial numbers as hex without leading zeros (Node and @peculiar/x509 spell them differently). */
export const serialOf = (s: string) => s.toLowerCase().replace(/^0+/, '');

/** Serial of the certificate a live MQTT connection's TLS socket presents. */
export function serialOfClient(client: MqttClient | undefined): string | undefined {
  const cert = (client?.stream as TLSSocket | undefined)?.getCertificate();
  return cert && 'serialNumber' in cert ? serialOf(cert.serialNumber) : undefined;
}

/** The serial the daemon's broker connection presents (transport internals, read only). */
export function presentedSerial(deps: DaemonDeps): string | undefined {
  return serialOfClient((deps.transport as unknown as { client?: MqttClient }).client);
}
