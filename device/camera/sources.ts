/** The live cameras: each is a PipeFrameSource with its command line and its way to identify the camera. */
import type { MediaTools } from '../../base/process.js';
import { gstreamerCommand, rpicamCommand, v4l2Command, type GstreamerOptions, type RpicamOptions, type V4l2Options } from './commands.js';
import type { CameraIdentity } from './frame-source.js';
import { identifyV4l2, virtualReason, type IdentifyOptions } from './identity.js';
import { PipeFrameSource, type PipeSourceOptions } from './pipe-source.js';

type Common = Omit<PipeSourceOptions, 'command' | 'identify' | 'deviceNode'>;

/**
 * A V4L2 camera (USB webcams, CSI bridges that expose /dev/videoN) through ffmpeg. `identify`
 * overrides the VIDIOC_QUERYCAP/sysfs lookup (tests that substitute a lavfi input for the camera).
 */
export function createV4l2Source(o: V4l2Options & Common & { identity?: IdentifyOptions; identify?: () => Promise<CameraIdentity> }): PipeFrameSource {
  return new PipeFrameSource({
    ...o,
    command: v4l2Command(o),
    identify: o.identify ?? (() => identifyV4l2(o.device, { spawn: o.spawn, ...o.identity })),
    deviceNode: o.inputOverride ? undefined : o.device,
  });
}

/** A Raspberry Pi CSI camera through rpicam-vid (libcamera). */
export function createRpicamSource(o: RpicamOptions & Common & { identify?: () => Promise<CameraIdentity> }): PipeFrameSource {
  const identity: CameraIdentity = { kind: 'csi', device: `libcamera:${o.camera ?? 0}`, driver: 'libcamera', virtual: false };
  return new PipeFrameSource({ ...o, command: rpicamCommand(o), identify: o.identify ?? (async () => identity) });
}

/**
 * A GStreamer pipeline (Jetson `nvarguscamerasrc`, `v4l2src`, or `videotestsrc` for tests). A
 * `v4l2src device=...` pipeline is identified as that V4L2 device; test and file sources are virtual.
 */
export function createGstreamerSource(
  o: GstreamerOptions & Common & { identity?: IdentifyOptions; identify?: () => Promise<CameraIdentity> },
): PipeFrameSource {
  const first = o.pipeline.split('!')[0].trim();
  const v4l2Device = /^v4l2src\b.*\bdevice=("?)([^\s"]+)\1/.exec(first)?.[2];
  const identify = async (): Promise<CameraIdentity> => {
    if (v4l2Device) return { ...(await identifyV4l2(v4l2Device, { spawn: o.spawn as MediaTools['spawn'], ...o.identity })), kind: 'gstreamer' };
    const element = first.split(/\s+/)[0];
    const synthetic = /^(videotestsrc|filesrc|multifilesrc|appsrc|souphttpsrc|rtspsrc|udpsrc|fdsrc|uridecodebin)$/.test(element);
    const reason = synthetic ? `GStreamer ${element} is not a camera` : virtualReason({ card: first });
    return { kind: 'gstreamer', device: first, driver: element, virtual: reason !== undefined, ...(reason ? { virtualReason: reason } : {}) };
  };
  return new PipeFrameSource({ ...o, command: gstreamerCommand(o), identify: o.identify ?? identify, deviceNode: v4l2Device });
}
