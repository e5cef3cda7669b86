/** What the daemon tests share: nonces whose plans a recording follows, and a stand-in for the kiosk browser's screen socket. */
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { derivePlan } from '../../protocol/plan.js';

/** real.mp4's head moves, in order (tranvanluyt-replay-headturn). */
export const REAL_MOTIONS = ['turn_left', 'turn_right', 'look_down', 'look_up'];

/** `n` deterministic nonces (seeded by `seed`) whose derived plans are prefixes of `motions`, at most 3 steps. */
export function matchingNonces(seed: string, n: number, motions: readonly string[] = REAL_MOTIONS): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const nonce = createHash('sha256').update(`${seed}-${i}`).digest('hex').slice(0, 32);
    const kinds = derivePlan(nonce).steps.map((s) => s.kind);
    if (kinds.every((k, j) => k === motions[j]) && kinds.length <= 3) out.push(nonce);
  }
  return out;
}

export type PageMsg = Record<string, unknown> & { type: string };

/** A page: the kiosk browser's WebSocket (with the secret of the launch URL's `#k=`), recording what the agent sends. */
export async function screenPage(launchUrl: string) {
  const u = new URL(launchUrl);
  const ws = new WebSocket(`ws://${u.host}/ws?k=${u.hash.replace(/^#k=/, '')}`, { origin: u.origin });
  const messages: PageMsg[] = [];
  const frames: number[] = []; // index into messages at which each binary frame arrived
  ws.on('message', (data, isBinary) => {
    if (isBinary) frames.push(messages.length);
    else messages.push(JSON.parse(data.toString()) as PageMsg);
  });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  return { ws, messages, frames, send: (m: unknown) => ws.send(JSON.stringify(m)) };
}
