/** GStreamer through gst-launch-1.0: `videotestsrc` stands in for a Jetson's nvarguscamerasrc. */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { createGstreamerSource } from '../../device/camera/sources.js';
import { frameSourceContract } from './frame-source.contract.js';

let hasGst = true;
try {
  execFileSync('gst-inspect-1.0', ['videotestsrc'], { stdio: 'ignore' });
} catch {
  hasGst = false;
}

if (!hasGst) {
  t.skip('gst-launch-1.0 with videotestsrc is not installed (Debian gstreamer1.0-tools, gstreamer1.0-plugins-base)', () => {});
} else {
  // 322 pixels: RGB rows of 966 bytes padded to 968 by GStreamer; the source must unpad them.
  const W = 322;
  const H = 240;
  frameSourceContract('gstreamer videotestsrc', ({ allowVirtual, bufferFrames }) => {
    const source = createGstreamerSource({
      pipeline: 'videotestsrc is-live=true pattern=smpte ! video/x-raw,framerate=30/1',
      width: W,
      height: H,
      fps: 30,
      allowVirtual,
      bufferFrames,
      restart: { baseMs: 100, capMs: 1000 },
    });
    return { source, width: W, height: H, live: true, equalRows: [0, 100], crash: () => process.kill(source.pid!, 'SIGKILL'), pid: () => source.pid };
  });
}
