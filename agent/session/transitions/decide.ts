/** Phase `deciding`: wait for the outstanding decisions, then the verdict. */
import { finish } from '../result.js';
import { assess } from '../scores.js';
import type { Transition } from '../transition.js';
import { pendingCaptures } from './capture.js';

export function toDeciding(tr: Transition): Transition {
  tr.enter('deciding').prompt('please_wait');
  return pendingCaptures(tr) === 0 ? conclude(tr) : tr;
}

/** Concludes once every capture is answered. */
export function decisionArrived(tr: Transition): Transition {
  return tr.state.phase === 'deciding' && pendingCaptures(tr) === 0 ? conclude(tr) : tr;
}

/** After `decisionTimeoutMs`: decide with the answers there are. */
export function decidingTimeout(tr: Transition): Transition {
  const s = tr.state;
  return s.nowMs - s.phaseStartedMs > s.config.decisionTimeoutMs ? conclude(tr) : tr;
}

/** Reject reasons win over a retry, so that an evident attack is never turned into a retry. */
function conclude(tr: Transition): Transition {
  const a = assess(tr.state);
  if (a.reject.length > 0) return finish(tr, 'reject', a.reject);
  if (a.retry) return finish(tr, 'retry', [a.retry]);
  return finish(tr, 'accept', []);
}
