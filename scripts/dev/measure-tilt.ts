// Motion check on a tilted flat photo, simulated on real frames. Usage: npx tsx agent/session/dev/measure-tilt.ts ../shared/data
// Flat-photo tilt on real pixels: frontal frames warped by the homography of a plane rotated about its vertical / horizontal axis.
import { createFaceEngine } from '../../models/face-engine.js';
import { readVideoFrames } from '../../device/media/video.js';
import { primaryFace } from '../../models/select.js';
import { motionResidual } from '../../agent/session/motion.js';
import { makeImage, type RgbImage } from '../../base/rgb-image.js';
const D = (process.argv[2] ?? '../shared/data') + '/';
const e = createFaceEngine();
await e.start();
function tilt(src: RgbImage, deg: number, axis: 'y' | 'x') {
  const { width: w, height: h } = src;
  const f = 1.2 * w,
    cx = w / 2,
    cy = h / 2,
    a = (deg * Math.PI) / 180,
    Z = f;
  const out = makeImage(w, h);
  for (let v = 0; v < h; v++)
    for (let u = 0; u < w; u++) {
      // ray through output pixel hits the rotated plane; find plane coords (x,y) -> source pixel
      const dx = (u - cx) / f,
        dy = (v - cy) / f;
      let x: number, y: number;
      if (axis === 'y') {
        const t = Z / (Math.cos(a) - dx * Math.sin(a));
        x = t * dx * Math.cos(a) + (t - Z) * Math.sin(a) * 0;
        const X = t * dx,
          Zp = t;
        x = X * Math.cos(a) + (Zp - Z) * Math.sin(a);
        y = t * dy;
      } else {
        const t = Z / (Math.cos(a) - dy * Math.sin(a));
        const Y = t * dy,
          Zp = t;
        y = Y * Math.cos(a) + (Zp - Z) * Math.sin(a);
        x = t * dx;
      }
      const sx = Math.round((x * f) / Z + cx),
        sy = Math.round((y * f) / Z + cy);
      if (sx < 0 || sy < 0 || sx >= w || sy >= h) continue;
      const i = (sy * w + sx) * 3,
        o = (v * w + u) * 3;
      out.data[o] = src.data[i];
      out.data[o + 1] = src.data[i + 1];
      out.data[o + 2] = src.data[i + 2];
    }
  return out;
}
for (const [v, frames] of [
  ['tranvanluyt-replay-headturn/videos/real.mp4', [20, 600]],
  ['blink-detector-video/video.mp4', [205]],
] as const) {
  for await (const fr of readVideoFrames(D + v)) {
    if (!(frames as readonly number[]).includes(fr.index)) continue;
    const base = primaryFace((await e.analyze(fr.image)).faces)!;
    const row: string[] = [];
    for (const [deg, axis] of [
      [20, 'y'],
      [30, 'y'],
      [-30, 'y'],
      [20, 'x'],
      [-20, 'x'],
    ] as const) {
      const s = primaryFace((await e.analyze(tilt(fr.image, deg, axis))).faces);
      row.push(
        s
          ? `${axis}${deg}: yaw ${s.pose.yaw.toFixed(0)} pitch ${s.pose.pitch.toFixed(0)} residual ${motionResidual(base.landmarks, s.landmarks).residual.toFixed(3)}`
          : `${axis}${deg}: no face`,
      );
    }
    console.log(`${v}#frame=${fr.index}: ${row.join(' | ')}`);
  }
}
await e.stop();
