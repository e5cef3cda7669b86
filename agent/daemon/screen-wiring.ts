/**
 * The customer screen in the daemon (`screen.enabled`): the loopback page the session controller
 * feeds with each session's prompts, progress, preview and verdict. What the customer does on it:
 * Cancel aborts the session through its AbortSignal; Help calls an operator (assist-wiring.ts).
 */
import type { KioskConfig } from '../config/types.js';
import type { Logger } from '../../base/log.js';
import type { PageMessage } from '../screen/protocol.js';
import { CustomerScreen } from '../screen/server.js';
import type { CancelReason } from '../session/types.js';

/** The screen from config, or undefined when `screen.enabled` is off. */
export function createCustomerScreen(config: Pick<KioskConfig, 'screen'>, logger: Logger): CustomerScreen | undefined {
  if (!config.screen.enabled) return undefined;
  return new CustomerScreen({
    logger,
    port: config.screen.port,
    preview: { fps: config.screen.previewFps, maxWidth: config.screen.previewWidth },
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
