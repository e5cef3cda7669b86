/**
 * Dispensing on the carrier's word only: a signed `authorize_dispense` naming the accepted result of
 * the last finished session while its customer is still present (dispense-binding.ts), arriving
 * within `dispenser.authorizeWithinMs` of it, claims that result once (ledger transaction) and
 * pulses the dispenser; the card-out sensor confirms it (`dispensed`) or it is
 * reported failed (`dispense_failed`). A claimed result never dispenses again, even after a failure:
 * the carrier runs a new session (a card may have left without the sensor seeing it).
 */
import type { EventEmitter } from 'node:events';
import type { KioskHardware } from '../../device/kiosk/kiosk.js';
import { toKioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { AuthorizeDispense, CommandOutcome } from '../transport/commands.js';
import type { DaemonEvents } from './events.js';
import type { DispenseBinding } from './dispense-binding.js';
import type { Ledger } from './ledger.js';

export interface DispenseDeps {
  kiosk: KioskHardware;
  ledger: Ledger;
  binding: Pick<DispenseBinding, 'check' | 'void'>;
  authorizeWithinMs: number;
  bus: EventEmitter<DaemonEvents>;
  logger: Logger;
  inService: () => boolean;
}

export class DispenseController {
  dispensed = 0;
  failed = 0;

  constructor(private readonly deps: DispenseDeps) {}

  async authorize(cmd: AuthorizeDispense): Promise<CommandOutcome> {
    const { kiosk, ledger, bus, logger } = this.deps;
    if (!this.deps.inService()) return { ok: false, reason: 'out_of_service', detail: 'the kiosk is out of service' };
    const current = this.deps.binding.check(cmd.jti, cmd.session_id);
    if (!current.ok) return { ok: false, reason: 'not_current', detail: current.detail };
    const claim = ledger.claim(cmd.jti, this.deps.authorizeWithinMs);
    if (!claim.ok) return { ok: false, reason: claim.reason, detail: claim.detail };
    this.deps.binding.void('its SIM is being dispensed');
    bus.emit('dispense_started', { jti: cmd.jti });
    try {
      const r = await kiosk.dispense();
      ledger.finish(cmd.jti, 'dispensed');
      this.dispensed++;
      bus.emit('dispensed', { jti: cmd.jti, confirmMs: r.confirmMs });
      return { ok: true, body: { state: 'dispensed', confirm_ms: r.confirmMs } };
    } catch (err) {
      const e = toKioskError(err, 'E_DEVICE', 'dispenser');
      ledger.finish(cmd.jti, 'failed', e.code);
      this.failed++;
      logger.error({ jti: cmd.jti, err: e.toJSON() }, 'dispense failed');
      bus.emit('dispense_failed', { jti: cmd.jti, code: e.code, message: e.message });
      return { ok: true, body: { state: 'failed', code: e.code } };
    }
  }
}
