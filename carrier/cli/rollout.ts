/**
 * Carrier CLI: `carrier rollout`, the staged rollout of a signed release to a fleet (carrier/rollout/).
 * Targets are a file of kiosk ids (one a line, `#` comments), given with `--targets`, or a named
 * group: `--group <name>` reads the same kind of file at `<dir>/groups/<name>` (the carrier keeps its
 * groups as plain files; there is no group field in the enrolment registry).
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EXIT, floatArg, intArg, reportError } from '../../base/cli.js';
import { KioskError } from '../../base/errors.js';
import { DEVICE_ID_PATTERN } from '../../protocol/names.js';
import type { RolloutSummary } from '../rollout/service.js';
import type { RolloutStoreApi } from '../store/types.js';
import { DIR_OPTION as dirOpt, STORE_OPTION as storeOpt } from './options.js';

interface RolloutOptions {
  dir: string;
  broker: string;
  cert: string;
  key: string;
  commandKey?: string;
  clientId: string;
  release: string;
  targets?: string;
  group?: string;
  percent: number;
  canary: string;
  wave: string;
  abortFailureRate: number;
  minFinished: number;
  kioskTimeout: number;
  state?: string;
  store?: string;
  id?: string;
  seed?: string;
}

/** Kiosk ids from a file: one a line, blank lines and `#` comments skipped; E_USAGE naming a bad line. */
export async function readKioskList(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new KioskError('E_USAGE', `cannot read the kiosk list: ${err.message}`, { subject: path });
  });
  const ids = text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
  const bad = ids.findIndex((id) => !DEVICE_ID_PATTERN.test(id));
  if (bad >= 0) throw new KioskError('E_USAGE', `entry ${bad + 1} is not a kiosk id`, { subject: path });
  if (ids.length === 0) throw new KioskError('E_USAGE', 'the kiosk list is empty', { subject: path });
  return ids;
}

/** The summary line `carrier rollout` ends with. */
export function summaryLine(s: RolloutSummary): string {
  const c = s.counts;
  const aborted = s.aborted ? `yes (wave ${s.aborted.wave}: ${s.aborted.reason})` : 'no';
  return `updated ${c.committed}, rolled back ${c.rolledBack}, failed ${c.failed}, stayed put ${s.stayedPut}, aborted ${aborted}`;
}

/** Registers `rollout` on `carrier`. */
export function registerRollout(carrier: Command): void {
  carrier
    .command('rollout')
    .description('roll a signed release out to kiosks: a canary, then waves, aborting past a failure rate; resumable from its state file')
    .option(...dirOpt)
    .requiredOption('--broker <url>', 'broker URL')
    .requiredOption('--cert <file>', 'service certificate with the dispatcher role')
    .requiredOption('--key <file>', 'service key')
    .option('--command-key <file>', 'the command key (default <dir>/command.key)')
    .option('--client-id <id>', 'MQTT client id (the certificate CN)', 'carrier-rollout')
    .requiredOption('--release <file>', 'the release manifest token (compact JWS by the release key)')
    .option('--targets <file>', 'kiosk ids, one a line')
    .option('--group <name>', 'kiosk ids from <dir>/groups/<name>, one a line')
    .option('--percent <n>', 'share of the targets to update, chosen by the seed', floatArg('--percent', 0.001, 100), 100)
    .option('--canary <n|n%>', 'canary size (count or percentage of the targets, at least 1)', '5%')
    .option('--wave <n|n%>', 'size of each wave after the canary', '25%')
    .option('--abort-failure-rate <r>', 'abort when (rolled back + failed) / finished is above this', floatArg('--abort-failure-rate', 0, 1), 0.1)
    .option('--min-finished <n>', 'the failure rate applies once this many kiosks finished', intArg('--min-finished', 1), 5)
    .option('--kiosk-timeout <sec>', 'a job without a final report after this long counts as failed (timeout)', intArg('--kiosk-timeout', 1), 1800)
    .option('--state <file>', 'the rollout state (SQLite; default <dir>/rollouts.db); excludes a postgres --store')
    .option(...storeOpt)
    .option('--id <id>', 'rollout id (default: from the release and the targets, so a re-run resumes)')
    .option('--seed <text>', 'seed of the target order (default: the rollout id)')
    .action(async (o: RolloutOptions) => {
      const dir = resolve(o.dir);
      const [{ RolloutStore }, { RolloutService, releaseOf }, { checkRules, orderTargets, parseSize }, { CommandSigner }, { createLogger }] = await Promise.all(
        [
          import('../rollout/store.js'),
          import('../rollout/service.js'),
          import('../rollout/plan.js'),
          import('../commands/signer.js'),
          import('../../base/log.js'),
        ],
      );
      const { openStoresOption, storeSpecOf } = await import('../store/open.js');
      let store: RolloutStoreApi | undefined;
      let closeStores: (() => Promise<void>) | undefined;
      let service: InstanceType<typeof RolloutService> | undefined;
      try {
        if (o.state !== undefined) {
          if (storeSpecOf(o.store, dir).kind !== 'sqlite')
            throw new KioskError('E_USAGE', '--state is a SQLite file; it excludes a postgres store', { subject: '--state' });
          store = new RolloutStore(o.state);
        } else {
          const stores = await openStoresOption(dir, o.store);
          closeStores = () => stores.close();
          store = stores.rollouts;
        }
        if (Boolean(o.targets) === Boolean(o.group)) throw new KioskError('E_USAGE', 'give exactly one of --targets and --group', { subject: 'rollout' });
        if (o.group !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(o.group))
          throw new KioskError('E_USAGE', 'a group name is letters, digits, . _ -', { subject: '--group' });
        const all = await readKioskList(o.targets ?? join(dir, 'groups', o.group!));
        const release = releaseOf(await readFile(o.release, 'utf8'));
        const rules = checkRules({
          canary: parseSize(o.canary, '--canary'),
          wave: parseSize(o.wave, '--wave'),
          abortFailureRate: o.abortFailureRate,
          minFinished: o.minFinished,
          kioskTimeoutMs: o.kioskTimeout * 1000,
        });
        const id =
          o.id ??
          `r-${createHash('sha256')
            .update(release.sha256)
            .update([...all].sort().join('\n'))
            .update(String(o.percent))
            .digest('hex')
            .slice(0, 16)}`;
        const record = await store.begin(id, release, orderTargets(all, o.seed ?? id, o.percent), rules, Date.now());
        const [signer, ca, cert, key] = await Promise.all([
          CommandSigner.open(o.commandKey ?? join(dir, 'command.key')),
          readFile(join(dir, 'ca.crt')),
          readFile(o.cert),
          readFile(o.key),
        ]);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        out(
          `rollout ${id}: ${release.kind} release ${release.version} to ${record.targets.length} kiosks${record.aborted ? ' (aborted before; waiting for jobs in flight)' : ''}`,
        );
        service = new RolloutService({
          options: { url: o.broker, ca, cert, key, clientId: o.clientId },
          store,
          signer,
          logger: createLogger().child({ component: 'rollout' }),
        });
        let finished = -1;
        service.events.on('wave', (w) => out(`wave ${w.wave}${w.wave === 0 ? ' (canary)' : ''}: sent ${w.kiosks} jobs`));
        service.events.on('progress', ({ wave, counts: c }) => {
          if (c.finished === finished) return;
          finished = c.finished;
          out(`wave ${wave}: ${c.committed} committed, ${c.rolledBack} rolled back, ${c.failed} failed, ${c.inFlight} in flight, ${c.pending} pending`);
        });
        service.events.on('abort', (a) => out(`abort in wave ${a.wave}: ${a.reason}`));
        await service.start();
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const summary = await service.run(id, stop.signal).finally(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        });
        out(summaryLine(summary));
        process.exitCode = summary.aborted ? EXIT.reject : EXIT.ok;
      } catch (err) {
        reportError(err);
      } finally {
        await service?.stop();
        await store?.stop();
        await closeStores?.();
      }
    });
}
