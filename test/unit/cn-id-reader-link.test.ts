/**
 * The resident-ID reader over a byte link that misbehaves below the framing: a write (and its drain) that
 * never completes, a write that fails, a link that closes while a write is pending. A read must end in each
 * case with its code, never hang (CI once saw the integration test's unplug case left unfinished).
 */
import t from 'tap';
import type { ByteLink } from '../../device/document/cn-id/port.js';
import { CnIdDocumentReader } from '../../device/document/cn-id/reader.js';
import { KioskError } from '../../base/errors.js';
import { rejectsWithCode } from '../helpers/errors.js';

interface StuckLink extends ByteLink {
  writes: number;
  unplug(): void;
}

/** A link whose writes behave as `write` says; `unplug` fires the close listener. */
function link(write: () => Promise<void>): StuckLink {
  let onClose: ((err?: Error) => void) | undefined;
  const l: StuckLink = {
    writes: 0,
    write: () => {
      l.writes++;
      return write();
    },
    listen: (_data, close) => {
      onClose = close;
    },
    close: async () => {},
    unplug: () => onClose?.(new Error('EIO')),
  };
  return l;
}

async function reader(l: StuckLink) {
  const r = new CnIdDocumentReader({ path: '/dev/ttyTEST', responseTimeoutMs: 300, openLink: async () => l });
  await r.start();
  return r;
}

t.test('a write that never drains ends the read with E_TIMEOUT at the response limit', async (t) => {
  const l = link(() => new Promise<void>(() => {}));
  const r = await reader(l);
  const started = Date.now();
  await t.rejects(r.read({ timeoutMs: 10_000 }), { name: 'KioskError', code: 'E_TIMEOUT', details: { reason: 'no_response', step: 'find' } });
  t.ok(Date.now() - started < 5000, 'bounded by the response limit, not the request');
  t.equal(l.writes, 1);
});

t.test('the port closing while a write is pending ends the read with E_DEVICE', async (t) => {
  const l = link(() => new Promise<void>(() => {}));
  const r = await reader(l);
  const pending = rejectsWithCode(t, r.read({ timeoutMs: 10_000 }), 'E_DEVICE', /serial port closed/);
  await new Promise((res) => setTimeout(res, 50));
  l.unplug();
  await pending;
  await rejectsWithCode(t, r.read({ timeoutMs: 100 }), 'E_DEVICE', /serial port closed/);
});

t.test('a write that fails ends the read with the write error', async (t) => {
  const l = link(() => Promise.reject(new KioskError('E_DEVICE', 'writing to the ID card reader failed: EIO', { subject: '/dev/ttyTEST' })));
  const r = await reader(l);
  await rejectsWithCode(t, r.read({ timeoutMs: 10_000 }), 'E_DEVICE', 'writing to the ID card reader failed');
});

t.test('an abort while a write is pending ends the read with E_ABORTED', async (t) => {
  const l = link(() => new Promise<void>(() => {}));
  const r = await reader(l);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await rejectsWithCode(t, r.read({ timeoutMs: 10_000, signal: ac.signal }), 'E_ABORTED');
});
