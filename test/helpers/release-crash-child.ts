/**
 * Child process for the crash tests: runs one scenario of release-store operations and kills itself
 * with SIGKILL at the named step (`<step>` or `<step>#<n>` for its n-th occurrence), the way a power
 * cut or the OOM killer would stop it. Exits 0 when the step was never reached.
 * argv[2]: JSON { root, scenario: 'install' | 'switch-commit' | 'switch-rollback', step, bundle?, kid, publicKey }
 */
import { readBundleToken, stageFromDirectory } from '../../provisioning/update/bundle.js';
import { ReleaseVerifier } from '../../provisioning/update/manifest.js';
import { ReleaseStore, type StoreStep } from '../../provisioning/update/release-store.js';

const o = JSON.parse(process.argv[2]);
const [want, nth] = String(o.step).split('#');
let seen = 0;
const onStep = (step: StoreStep) => {
  if (step === want && ++seen === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
};
const store = await ReleaseStore.open({ root: o.root, onStep, diskMarginBytes: 0 });
if (o.scenario === 'install') {
  const verifier = new ReleaseVerifier({ keys: [{ kid: o.kid, publicKey: o.publicKey }] });
  await verifier.start();
  const release = await verifier.verify(await readBundleToken(o.bundle));
  await store.install(await stageFromDirectory(o.bundle, release, await store.prepareStaging(release)));
} else {
  await store.switchTo(3);
  if (o.scenario === 'switch-commit') {
    await store.startTrial();
    await store.commit();
  } else {
    await store.rollback('health check failed');
  }
}
