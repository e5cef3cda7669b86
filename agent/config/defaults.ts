/**
 * The embedded defaults of `npm start` / `kiosk-agent run` without --config: a simulated kiosk
 * (in-memory GPIO driven from the local API or the terminal, a recording or the first camera found,
 * results kept in the outbox when no broker is configured).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from './load.js';
import type { KioskConfig } from './types.js';

/** The simulated kiosk's config; `video` replays a recording (looped) instead of looking for a camera. */
export function simulatedConfig(options: { video?: string; stateDir?: string } = {}): KioskConfig {
  return validateConfig({
    simulate: true,
    deviceId: 'kiosk-sim',
    stateDir: options.stateDir ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'kiosk-agent-sim'),
    gpio: { driver: 'fake' },
    camera: options.video ? { kind: 'replay', path: options.video, loop: true, allowVirtual: true, capture: 'session' } : { kind: 'auto', allowVirtual: true },
    flow: { carrierNonceWaitMs: 0 },
  });
}
