/**
 * One "verifier host" for the exactly-once race (test/integration/carrier-store-race.test.ts): opens
 * the carrier's stores from the spec in argv[2], reads the nonces (one a line) from argv[3], says
 * `ready`, waits for `go` on stdin, then consumes every nonce with its own jti (argv[4]), all at once,
 * and prints one JSON line: the indices it accepted.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { openCarrierStores } from '../../carrier/store/open.js';
import type { StoreSpec } from '../../carrier/store/types.js';

const spec = JSON.parse(process.argv[2]) as StoreSpec;
const nonces = readFileSync(process.argv[3], 'utf8').split('\n').filter(Boolean);
const jti = process.argv[4];
const stores = await openCarrierStores(spec);
process.stdout.write('ready\n');
await new Promise<void>((go) => createInterface({ input: process.stdin }).once('line', () => go()));
const now = new Date();
const checks = await Promise.all(nonces.map((n) => stores.nonces.consume(n, 'kiosk-001', jti, { now, iat: now, skewMs: 0 })));
await stores.close();
process.stdout.write(
  `${JSON.stringify({ accepted: checks.flatMap((c, i) => (c === 'ok' ? [i] : [])), other: checks.filter((c) => c !== 'ok' && c !== 'replay').length })}\n`,
);
