/**
 * Fleet updates from config (`update.*`), for build.ts: where releases come from (the carrier's
 * signed apt repository for the agent, model bundles over HTTP), the model self-test a release on
 * trial must pass, and which models directory the engine loads (the committed models release when
 * there is one, else the package's).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { runModelSelfTest } from '../../models/self-test.js';
import { stageAgentFromApt } from '../../provisioning/update/apt-source.js';
import { stageFromUrl } from '../../provisioning/update/bundle.js';
import type { KioskConfig } from '../config/types.js';
import type { Stager } from './update-job.js';
import { updatePaths, type UpdateWiringDeps } from './update-wiring.js';

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** The models directory of the current models release (`<update dir>/models/current/files`), if one is installed. */
export async function releaseModelsDir(cfg: KioskConfig): Promise<string | undefined> {
  if (!cfg.update.enabled) return undefined;
  const files = join(updatePaths(cfg).models, 'current', 'files');
  return (await exists(join(files, 'manifest.json'))) ? files : undefined;
}

/** The update parts of the daemon's deps, or undefined when `update.enabled` is false. */
export function updateFromConfig(cfg: KioskConfig, modelsDir: string | undefined, logger: Logger): Pick<UpdateWiringDeps, 'selfTest' | 'stagers'> | undefined {
  const u = cfg.update;
  if (!u.enabled) return undefined;
  const paths = updatePaths(cfg);
  const stagers: Partial<Record<'agent' | 'models', Stager>> = {};
  if (u.aptUrl)
    stagers.agent = (release, staging, o) =>
      stageAgentFromApt(release, staging, {
        repo: { url: u.aptUrl, suite: u.aptSuite, component: u.aptComponent, keyring: u.aptKeyring },
        aptDir: paths.apt,
        diskMarginBytes: u.diskMarginBytes,
        ...o,
      });
  if (u.modelsUrl)
    stagers.models = (release, staging, o) => stageFromUrl(`${u.modelsUrl.replace(/\/+$/, '')}/${release.manifest.version}/`, release, staging, o);
  return {
    stagers,
    selfTest: async () => {
      // The package's models were hash-checked when the engine loaded them; a models release also
      // carries images and the outputs its models must give on them (models/self-test.ts).
      if (modelsDir === undefined) {
        logger.info('self-test: the package models passed their hash check at load (no known-answer test ships with them)');
        return;
      }
      const r = await runModelSelfTest(modelsDir, { variant: cfg.engine.variant, threads: cfg.engine.threads, logger });
      if (!r.ok) throw new KioskError(r.code, `${r.message} (${r.check})`, { subject: modelsDir, details: { check: r.check } });
      logger.info({ ms: Math.round(r.ms) }, 'self-test: the models release gave its known outputs');
    },
  };
}
