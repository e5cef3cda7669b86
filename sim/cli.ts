#!/usr/bin/env node
/**
 * `npm run simulate -- fleet`: N simulated kiosks publish signed results over mutual TLS to a local
 * mosquitto; V verifiers consume them. Runs kiosks and carrier together, so it lives outside both.
 */
import { Command } from 'commander';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KioskError } from '../base/errors.js';
import { reportError } from '../base/cli.js';

function register(simulate: Command): void {
  simulate
    .command('fleet')
    .description(
      'start a local mosquitto, N kiosks with their own certificates, V verifiers on a shared subscription; print a JSON report; exit 1 when results were lost',
    )
    .option('--devices <n>', 'simulated kiosks', Number, 20)
    .option('--results <m>', 'signed results per kiosk', Number, 10)
    .option('--verifiers <v>', 'verifier processes', Number, 2)
    .option('--connect-concurrency <c>', 'TLS connections opened at once', Number, 50)
    .option('--keep <dir>', 'work in this directory and keep it (CA, broker log) instead of a temp directory')
    .action(async (o: { devices: number; results: number; verifiers: number; connectConcurrency: number; keep?: string }) => {
      try {
        for (const [k, v] of Object.entries({ devices: o.devices, results: o.results, verifiers: o.verifiers, 'connect-concurrency': o.connectConcurrency })) {
          if (!Number.isInteger(v) || v < 1) throw new KioskError('E_USAGE', `--${k} must be a positive integer`, { subject: `--${k}` });
        }
        const dir = o.keep ?? mkdtempSync(join(tmpdir(), 'kiosk-fleet-'));
        chmodSync(dir, 0o755); // the broker runs as the mosquitto user and must reach its directory
        try {
          const [{ runFleet }, { createLogger }, { phasedProgress }] = await Promise.all([
            import('./fleet.js'),
            import('../base/log.js'),
            import('../base/progress.js'),
          ]);
          const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' }).child({ component: 'fleet' });
          // On a terminal (not in CI), a line on stderr per step: certificates, connect, verify; the JSON report on stdout is untouched.
          const progress = phasedProgress('fleet');
          const report = await runFleet({ ...o, dir, logger, onProgress: (step, done, total) => progress.report(done, total, step) }).finally(() =>
            progress.done(),
          );
          process.stdout.write(`${JSON.stringify(report)}\n`);
          if (report.lost > 0 || report.rejected > 0 || report.connected < report.devices) process.exitCode = 1;
        } finally {
          if (!o.keep) rmSync(dir, { recursive: true, force: true });
        }
      } catch (err) {
        reportError(err);
      }
    });
}

const program = new Command('kiosk-simulate').description('simulations for carriers: a fleet of kiosks against a local broker').showHelpAfterError();
register(program);
await program.parseAsync(process.argv);
