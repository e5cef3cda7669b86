/**
 * The customer screen for `kiosk-agent verify --screen`: starts the server, prints its URL,
 * waits for a page to connect (so the customer sees the session from its start), feeds it the
 * session, shows the verdict for a while, and closes. A tap on Cancel aborts the session.
 */
import type { RgbImage } from '../../base/rgb-image.js';
import type { Logger } from '../../base/log.js';
import { sleep, systemClock } from '../../base/clock.js';
import type { ChallengePlan, SessionEffect, SessionResult } from '../session/types.js';
import { CustomerScreen } from './server.js';
import { bridgeSession } from './session-bridge.js';

export interface VerifyScreenOptions {
  logger: Logger;
  plan: Pick<ChallengePlan, 'steps'>;
  /** 0 picks a free port. */
  port?: number;
  /** Where the URL line goes (stderr in the CLI); it holds the launch URL with the socket's secret. */
  out: (line: string) => void;
  /** Called when the customer taps Cancel. */
  onCancel: () => void;
  signal?: AbortSignal;
  /** How long to wait for a page before starting anyway, ms. Default 60 000. */
  waitMs?: number;
  /** How long the verdict stays on screen before the server closes, ms. Default 10 000. */
  holdMs?: number;
}

export interface VerifyScreen {
  url: string;
  onEffect(effect: SessionEffect): void;
  onFrame(image: RgbImage): void;
  /** Shows the verdict and waits `holdMs` (or the abort). */
  finish(result: Pick<SessionResult, 'verdict' | 'reasons'>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the screen and waits for a page (see the module doc). */
export async function openVerifyScreen(o: VerifyScreenOptions): Promise<VerifyScreen> {
  const log = o.logger.child({ component: 'verify-screen' });
  const screen = new CustomerScreen({ logger: o.logger, port: o.port });
  screen.actions.on('action', (m) => {
    if (m.type === 'cancel') o.onCancel();
    // Remote assistance is not wired here: the request is only logged.
    else if (m.type === 'help') log.info('customer asked for help');
  });
  const url = await screen.start();
  const waitMs = o.waitMs ?? 60_000;
  // To the terminal of whoever runs the command, not to the log: the URL carries the socket's secret.
  o.out(`customer screen: ${screen.launchUrl} (open it in a browser; the session starts when a page connects, or after ${Math.round(waitMs / 1000)} s)`);
  await screen.waitForClient(waitMs, o.signal);
  const bridge = bridgeSession(screen, o.plan);
  return {
    url,
    onEffect: (e) => bridge.onEffect(e),
    onFrame: (image) => bridge.onImage(image),
    async finish(result) {
      bridge.finish(result);
      // An abort ends the hold early; the result was already shown.
      await sleep(systemClock, o.holdMs ?? 10_000, o.signal).catch(() => undefined);
    },
    stop: () => screen.stop(),
  };
}
