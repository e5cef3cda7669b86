/**
 * `carrier policy init` writes a verifier policy for this checkout's models and version, and
 * `carrier verify` applies it (or the one named by --policy): a kiosk of this checkout is accepted,
 * a foreign model or another audience is refused, and no policy at all must be chosen explicitly.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentVersion } from '../../base/paths.js';
import { SqliteNonceStore } from '../../carrier/nonce-store.js';
import { loadVerifierPolicy } from '../../carrier/verifier-policy.js';
import { modelDigest, readManifest } from '../../models/manifest.js';
import type { Measurement } from '../../protocol/eat.js';
import { ResultSigner } from '../../provisioning/result-signer.js';
import { TestPki } from '../helpers/pki.js';

const carrier = (args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'carrier/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** A carrier state directory, a kiosk certificate, its nonce store, and what a kiosk of this checkout measures. */
async function carrierWithKiosk(t: Test) {
  const dir = t.testdir({});
  const pki = await TestPki.create(dir);
  t.teardown(() => pki.ca.stop());
  const caDir = join(dir, 'ca');
  const dev = await pki.issue('kiosk-001');
  const nonces = new SqliteNonceStore(join(caDir, 'nonces.db'));
  t.teardown(() => nonces.stop());
  const manifest = await readManifest();
  const measurements: Measurement[] = [{ id: 'kiosk-agent', version: agentVersion() }, ...manifest.models.slice(0, 3).map(modelDigest)];
  return { dir, caDir, dev, nonces, manifest, measurements };
}

t.test('policy init, then verify with the policy', async (t) => {
  const { dir, caDir, dev, nonces, manifest, measurements } = await carrierWithKiosk(t);
  const token = async (m = measurements, audience?: string) =>
    (
      await new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements: m, dbgstat: 'disabled', audience }).sign(
        await nonces.issue('kiosk-001', new Date()),
        { verdict: 'accept', reasons: [] },
      )
    ).token;
  const verify = async (tok: string, ...extra: string[]) => carrier(['verify', tok, '--dir', caDir, '--skip-plan-check', ...extra]);

  t.match(await verify(await token()), { code: 2, err: /no verifier policy.*policy init/ }, 'no policy: the carrier must choose');

  const init = carrier(['policy', 'init', '--dir', caDir, '--operator', 'carrier-op-alice']);
  t.equal(init.code, 0, init.err);
  const policy = await loadVerifierPolicy(init.out.trim());
  t.match(policy, { swversions: [agentVersion()], operators: ['carrier-op-alice'], refuseDebug: true, requireDbgstat: true });
  t.equal(policy.modelSets[0].models.length, manifest.models.length, 'every model the checkout ships');
  t.match(carrier(['policy', 'init', '--dir', caDir]), { code: 2, err: /exists/ }, 'not overwritten without --force');

  const ok = await verify(await token());
  t.equal(ok.code, 0, ok.err);
  t.match(JSON.parse(ok.out), { status: 'accepted', deviceId: 'kiosk-001' });

  const foreign = await verify(await token([...measurements, { id: 'fr_detect', sha256: 'ab'.repeat(32) }]));
  t.match({ code: foreign.code, ...JSON.parse(foreign.out) }, { code: 1, status: 'rejected', reason: 'unknown_measurements' });

  const other = await verify(await token(measurements, 'another-carrier'));
  t.match(JSON.parse(other.out), { status: 'rejected', reason: 'wrong_audience' });
  const custom = await verify(await token(measurements, 'another-carrier'), '--audience', 'another-carrier');
  t.match(JSON.parse(custom.out), { status: 'accepted' }, '--audience');

  const older = join(dir, 'older.json');
  writeFileSync(older, JSON.stringify({ ...policy, swversions: ['0.0.1'] }));
  t.match(JSON.parse((await verify(await token(), '--policy', older)).out), { status: 'rejected', reason: 'unknown_swversion' }, '--policy');
});

t.test('policy init --require-chip: a page-photo session is refused, a chip session that passed passive authentication accepted', async (t) => {
  const { caDir, dev, nonces, measurements } = await carrierWithKiosk(t);
  const token = async (reference: object) =>
    (
      await new ResultSigner({ keyStore: dev.keyStore, certificate: dev.certificate, measurements, dbgstat: 'disabled' }).sign(
        await nonces.issue('kiosk-001', new Date()),
        { verdict: 'accept', reasons: [], reference },
      )
    ).token;
  const init = carrier(['policy', 'init', '--dir', caDir, '--require-chip']);
  t.equal(init.code, 0, init.err);
  t.same((await loadVerifierPolicy(init.out.trim())).reference, {
    requireSource: 'chip',
    requirePassiveAuth: true,
    acceptReaderSam: false,
    requireChipAuth: false,
  });
  const verify = async (tok: string) => JSON.parse(carrier(['verify', tok, '--dir', caDir, '--skip-plan-check']).out) as { status: string; reason?: string };
  t.match(await verify(await token({ source: 'page', passiveAuth: 'not_performed', chipAuth: 'not_performed' })), {
    status: 'rejected',
    reason: 'reference_not_accepted',
  });
  t.match(
    await verify(await token({ source: 'chip', passiveAuth: 'passed', chipAuth: 'absent', accessControl: 'bac', issuingState: 'UTO', documentType: 'P' })),
    {
      status: 'accepted',
    },
  );
});
