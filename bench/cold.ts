// Child process of the benchmark: cold start to first result and peak RSS for one engine.
// Usage: tsx bench/cold.ts ours|human <video> <frames>
import { existsSync, readFileSync } from 'node:fs';
import { videoFrames } from './frames.js';

const [which, video, n] = process.argv.slice(2);
// Frames are decoded before the clock starts; cold start covers module import, model load and verification, first frame.
const frames = await videoFrames(video, 640, 480, Number(n), 10);
const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const baseRss = peakRssMb();

const t0 = performance.now();
let firstMs = NaN;
if (which === 'ours') {
  // The compiled build (what a kiosk runs; `npm ci` makes it) when present, else the sources through tsx.
  const built = existsSync(new URL('../dist/models/face-engine.js', import.meta.url));
  const { createFaceEngine } = (
    built ? await import('../dist/models/face-engine.js' as string) : await import('../models/face-engine.js')
  ) as typeof import('../models/face-engine.js');
  const { primaryFace } = (
    built ? await import('../dist/models/select.js' as string) : await import('../models/select.js')
  ) as typeof import('../models/select.js');
  const engine = createFaceEngine();
  await engine.start();
  for (const [i, f] of frames.entries()) {
    const s = await engine.analyze(f);
    const face = primaryFace(s.faces);
    if (face) await engine.decide(f, face);
    if (i === 0) firstMs = performance.now() - t0;
  }
  await engine.stop();
} else {
  const { startHuman } = await import('./human.js');
  const human = await startHuman();
  for (const [i, f] of frames.entries()) {
    await human.full(f);
    if (i === 0) firstMs = performance.now() - t0;
  }
  await human.stop();
}
process.stdout.write(`${JSON.stringify({ which, cold_start_ms: firstMs, peak_rss_mb: peakRssMb(), rss_before_engine_mb: baseRss, frames: frames.length })}\n`);
process.exit(0);
