/**
 * The customer screen in the daemon (`screen.enabled`): the loopback page the session controller
 * feeds with each session's prompts, progress, preview and verdict. What the customer does on it:
 * Cancel aborts the session through its AbortSignal; Help calls an operator (assist-wiring.ts).
 */
import { join } from 'node:path';
import type { KioskConfig } from '../config/types.js';
import type { Logger } from '../../base/log.js';
import type { PageMessage } from '../screen/protocol.js';
import { CustomerScreen } from '../screen/server.js';
import type { CancelReason } from '../session/types.js';

/** Where the daemon writes the screen's launch URL (with its socket secret, mode 0600) for the kiosk browser. */
export const SCREEN_LAUNCH_FILE = 'screen-url';

/**
 * The screen from config, or undefined when `screen.enabled` is off. Its launch URL goes to
 * `<stateDir>/screen-url` (0600) at every start: what systemd/kiosk-screen.service hands the browser.
 */
export function createCustomerScreen(config: Pick<KioskConfig, 'screen' | 'stateDir'>, logger: Logger): CustomerScreen | undefined {
  if (!config.screen.enabled) return undefined;
  return new CustomerScreen({
    logger,
    port: config.screen.port,
    preview: { fps: config.screen.previewFps, maxWidth: config.screen.previewWidth },
    launchFile: join(config.stateDir, SCREEN_LAUNCH_FILE),
  });
}

/** What the page's buttons do. */
export function screenActions(deps: { sessions: { abort(reason: CancelReason): void }; help: () => void; logger: Logger }): (m: PageMessage) => void {
  return (m) => {
    if (m.type === 'cancel') {
      deps.logger.info('the customer cancelled on the screen');
      deps.sessions.abort('customer_left');
    } else if (m.type === 'help') {
      deps.help();
    }
  };
}
