/**
 * engine.padModels reaches the daemon's face engine: a carrier who keeps the previous attack-model set
 * (with its own threshold) gets that set loaded, and the default daemon loads the calibrated set.
 */
import t from 'tap';
import { join } from 'node:path';
import { pino } from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import { buildDaemonDeps } from '../../agent/daemon/build.js';

const logger = pino({ level: 'silent' });
const base = (dir: string) => ({ simulate: true, stateDir: join(dir, 'state'), gpio: { driver: 'fake' }, camera: { kind: 'replay', path: 'x.mp4' } });
const padIds = (ids: string[]) => ids.filter((id) => /liveness|minifas|hyperfas|antispoof/.test(id));

t.test('the default daemon loads the calibrated attack models', async (t) => {
  const deps = await buildDaemonDeps(validateConfig(base(t.testdir({}))), logger);
  const info = await deps.engine.start();
  t.teardown(() => deps.engine.stop());
  t.same(padIds(info.models.map((m) => m.id)), ['minifasnet_v2', 'minifasnet_v1se', 'minifas_celebaspoof', 'hyperfas']);
});

t.test('a configured set is what the engine loads (fp16 where the model has it)', async (t) => {
  const cfg = validateConfig({
    ...base(t.testdir({})),
    engine: { padModels: ['fr_liveness', 'minifasnet_v2', 'minifas_celebaspoof'] },
    session: { maxAttackScore: 0.419 },
  });
  const deps = await buildDaemonDeps(cfg, logger);
  const info = await deps.engine.start();
  t.teardown(() => deps.engine.stop());
  t.same(padIds(info.models.map((m) => m.id)), ['fr_liveness@fp16', 'minifasnet_v2', 'minifas_celebaspoof']);
  t.equal(cfg.session.maxAttackScore, 0.419);
});
