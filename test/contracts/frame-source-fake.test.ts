/** The in-memory camera passes the same contract as the real ones. */
import { FakeFrameSource, fakeFrame } from '../../device/camera/fake-source.js';
import { frameSourceContract } from './frame-source.contract.js';

const W = 320;
const H = 240;

frameSourceContract('fake', ({ allowVirtual, bufferFrames }) => {
  const source = new FakeFrameSource({ width: W, height: H, fps: 30, allowVirtual, bufferFrames });
  return {
    source,
    width: W,
    height: H,
    live: true,
    crash: () => source.crash(),
    check: (f) => Buffer.from(f.image.data).equals(Buffer.from(fakeFrame(W, H, f.index).data)),
  };
});
