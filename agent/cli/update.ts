/**
 * `kiosk-agent update guard|status --config <file>`: the fleet-update commands of the kiosk.
 *
 * `guard` is systemd's ExecStartPre (systemd/kiosk-agent.service, run from the release committed
 * last by systemd/kiosk-agent-exec --guard): it repairs the release stores after a crash, counts the
 * start of a release on trial and rolls back one that keeps failing to start or ran out of trial
 * time (provisioning/update/guard.ts). It prints one JSON line per store. `status` prints the stores'
 * state and the job record.
 */
import type { Command } from 'commander';
import { reportError } from '../../base/cli.js';

export function register(program: Command): Command {
  const update = program.command('update').summary('fleet updates: the start guard and the state of the releases');
  update
    .command('guard')
    .description('Before each start (systemd ExecStartPre): repair the release stores, count a trial start, roll back a failing trial.')
    .requiredOption('--config <file>', 'the daemon config (update.dir, update.maxTrialStarts)')
    .action(async (o: { config: string }) => {
      try {
        const [{ loadConfigFile }, { guardTrials }, { updatePaths }] = await Promise.all([
          import('../config/load.js'),
          import('../../provisioning/update/guard.js'),
          import('../daemon/update-wiring.js'),
        ]);
        const cfg = await loadConfigFile(o.config);
        const paths = updatePaths(cfg);
        const outcomes = await guardTrials({
          stores: [
            { kind: 'agent', root: paths.agent },
            { kind: 'models', root: paths.models },
          ],
          jobDir: paths.dir,
          maxStarts: cfg.update.maxTrialStarts,
        });
        for (const r of outcomes) process.stdout.write(`${JSON.stringify(r)}\n`);
      } catch (err) {
        reportError(err);
      }
    });
  update
    .command('status')
    .description('Prints the release stores (current, previous, trial, floor, last rollback) and the update job as JSON.')
    .requiredOption('--config <file>', 'the daemon config')
    .action(async (o: { config: string }) => {
      try {
        const [{ loadConfigFile }, { ReleaseStore }, { readJob }, { updatePaths }] = await Promise.all([
          import('../config/load.js'),
          import('../../provisioning/update/release-store.js'),
          import('../../provisioning/update/job-record.js'),
          import('../daemon/update-wiring.js'),
        ]);
        const paths = updatePaths(await loadConfigFile(o.config));
        const job = await readJob(paths.dir);
        const out = {
          // Read only: the agent may be switching right now, and open() would repair under its feet.
          agent: await ReleaseStore.peek(paths.agent),
          models: await ReleaseStore.peek(paths.models),
          job: job ? { ...job, token: undefined } : null,
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } catch (err) {
        reportError(err);
      }
    });
  return update;
}
