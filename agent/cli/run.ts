/**
 * `kiosk-agent run [--config <file>] [--video <file>]`: the daemon. Without --config it runs the
 * embedded defaults: a simulated kiosk (in-memory GPIO driven from the local API or the terminal,
 * the first camera found or the --video recording, results kept in the outbox when no broker is
 * configured). An invalid config refuses to start naming the key (E_CONFIG_INVALID, exit 2).
 */
import type { Command } from 'commander';
import type { KioskConfig } from '../config/types.js';
import { reportError } from '../../base/cli.js';
import { isKioskError } from '../../base/errors.js';
import { RESTART_EXIT_CODE } from '../daemon/update-exit.js';

interface RunOptions {
  config?: string;
  video?: string;
  state?: string;
  reference?: string;
}

/** Applies --video, --reference and --state over a loaded config. */
function withFlags(cfg: KioskConfig, o: RunOptions): KioskConfig {
  const out = { ...cfg };
  if (o.state) out.stateDir = o.state;
  if (o.reference) out.reference = { ...cfg.reference, source: o.reference };
  if (o.video) out.camera = { ...cfg.camera, kind: 'replay', path: o.video, allowVirtual: true };
  return out;
}

export function register(program: Command): Command {
  return program
    .command('run')
    .summary('run the kiosk daemon (without --config: a simulated kiosk)')
    .description(
      'Runs the kiosk agent: camera, face engine, sessions, signed results through the outbox to the broker, ' +
        'carrier commands, SIM dispenser, tamper alarm, health (systemd notify, loopback /metrics and /health). ' +
        'Without --config it starts a simulated kiosk and says what it simulates. Config keys: `kiosk-agent config schema`.',
    )
    .option('--config <file>', 'JSON config file (see `kiosk-agent config schema`)')
    .option('--video <file>', 'replay this recording as the camera (implies camera.allowVirtual)')
    .option('--state <dir>', 'state directory (overrides stateDir)')
    .option('--reference <image>', 'the ID portrait for sessions that do not name one (overrides reference.source; `clip.mp4#frame=N` takes a video frame)')
    .action(async (o: RunOptions) => {
      const { createLogger } = await import('../../base/log.js');
      let logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'info' });
      try {
        const [{ simulatedConfig }, { loadConfigFile }] = await Promise.all([import('../config/defaults.js'), import('../config/load.js')]);
        const cfg = withFlags(o.config ? await loadConfigFile(o.config) : simulatedConfig({ video: o.video, stateDir: o.state }), o);
        logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? cfg.log.level });
        if (!o.config) logger.warn('no --config: starting the embedded simulated kiosk');
        const [{ buildDaemonDeps }, { composeDaemon }, { FakeGpioPort }, { simulatedKioskExtras, terminalKeys }] = await Promise.all([
          import('../daemon/build.js'),
          import('../daemon/compose.js'),
          import('../../device/gpio/fake-gpio.js'),
          import('../daemon/sim.js'),
        ]);
        const deps = await buildDaemonDeps(cfg, logger);
        // A simulated kiosk's controls (the /sim/* routes, the card-out sensor firing by itself) are added from here.
        const simulated = cfg.simulate && deps.gpio instanceof FakeGpioPort ? deps.gpio : undefined;
        let _stopping: Promise<void> | undefined;
        let removeKeys = () => {};
        const shutdown = (signal: string, code = 0) => {
          _stopping ??= (async () => {
            logger.info({ signal, code }, 'stopping');
            removeKeys();
            await daemon.stop();
            logger.flush();
            process.exit(code);
          })();
        };
        // After an update's switch or rollback: exit 75, systemd starts the unit again (RestartForceExitStatus=75).
        const restart = (why: string) => shutdown(`restart: ${why}`, RESTART_EXIT_CODE);
        const daemon = composeDaemon(deps, { ...(simulated ? simulatedKioskExtras(simulated, cfg, logger) : {}), restart });
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
        await daemon.start();
        if (simulated && cfg.sim.terminal) removeKeys = terminalKeys(simulated, process.stdin, () => shutdown('terminal'), logger);
      } catch (err) {
        logger.flush();
        reportError(err);
        // A release that failed its trial was rolled back: start again on the one it returned to.
        process.exit(isKioskError(err) && err.code === 'E_UPDATE_TRIAL' ? RESTART_EXIT_CODE : (process.exitCode ?? 2));
      }
    });
}
