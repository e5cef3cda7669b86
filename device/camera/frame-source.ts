/**
 * The camera interface the daemon reads: a live source of RGB frames that never queues without
 * bound. Each implementation (V4L2 through ffmpeg, Pi CSI through rpicam-vid, GStreamer, file or
 * folder replay, the in-memory fake) passes the same contract suite (test/contracts/frame-source.contract.ts).
 */
import type { EventEmitter } from 'node:events';
import type { KioskError } from '../../base/errors.js';
import type { RgbImage } from '../../base/rgb-image.js';

/** One frame as handed to the consumer. */
export interface CameraFrame {
  /** Sequence number from the source, counted across restarts; gaps are dropped frames. */
  index: number;
  /** Capture time in ms since `start()` (replay: the frame's time in the recording). */
  timeMs: number;
  image: RgbImage;
}

/** What a camera says about itself; recorded into each result so it names the camera that produced it. */
export interface CameraIdentity {
  kind: 'v4l2' | 'csi' | 'gstreamer' | 'replay' | 'fake' | 'test';
  /** Device node, pipeline or file the frames come from. */
  device: string;
  /** Kernel driver (VIDIOC_QUERYCAP `driver`), e.g. `uvcvideo`. */
  driver?: string;
  /** Device name (VIDIOC_QUERYCAP `card`), e.g. `HD USB Camera`. */
  card?: string;
  /** Where it is attached (VIDIOC_QUERYCAP `bus_info`), e.g. `usb-0000:01:00.0-1.2`. */
  bus?: string;
  /** USB descriptor fields, when the camera is on USB. */
  usb?: { vendorId?: string; productId?: string; manufacturer?: string; product?: string; serial?: string };
  /** True for loopback/virtual/test devices and recordings: anything that can inject pre-recorded video. */
  virtual: boolean;
  /** Why it counts as virtual. */
  virtualReason?: string;
}

/** Counters and rates since `start()`. */
export interface FrameSourceStats {
  /** Whole frames read from the camera. */
  captured: number;
  /** Frames handed to the consumer. */
  delivered: number;
  /** Frames overwritten in the buffer before the consumer took them. */
  dropped: number;
  /** Frames waiting in the buffer now (never more than the buffer size). */
  buffered: number;
  /** Times the capture process was restarted. */
  restarts: number;
  /** Capture rate over the last ~2 s, frames per second. */
  fps: number;
  /** From a frame's capture to its hand-over to the consumer, in ms: last, mean over the last 64 frames, and maximum. */
  latencyMs: { last: number; mean: number; max: number };
  /** Capturing now (false while waiting to restart, and after stop or the end of a replay). */
  running: boolean;
}

/** Lifecycle events; payloads carry reasons and counts, never image data. */
export interface FrameSourceEvents {
  /** A capture process (or replay) is running; `attempt` 0 is the first start. */
  started: [{ attempt: number; pid?: number }];
  /** The capture process ended without being asked to. */
  exited: [{ code: number | null; signal: string | null; reason: string }];
  /** A restart is scheduled after `delayMs`. */
  restarting: [{ attempt: number; delayMs: number; reason: string }];
  /** The device node disappeared (camera unplugged); restarts continue until it is back. */
  unplugged: [{ device: string }];
  /** The device node is back. */
  replugged: [{ device: string }];
  /** No frame for `stallMs`: the process is killed and restarted. */
  stalled: [{ sinceMs: number }];
  /** A restart failed for a reason retrying may fix (refused camera, missing tool); retries continue. */
  failed: [{ error: KioskError }];
  /** A replay reached the end of its input (not emitted by live cameras). */
  ended: [];
}

/** A source of frames. */
export interface FrameSource {
  readonly events: EventEmitter<FrameSourceEvents>;
  /** Known after `start()`. */
  readonly identity: CameraIdentity | undefined;
  /** Identifies the camera (refusing a virtual one unless allowed) and starts capturing; resolves once capture runs. */
  start(): Promise<void>;
  /** Stops capturing, kills any child process and waits for it, wakes waiting consumers with `undefined`. */
  stop(): Promise<void>;
  /** The newest buffered frame, waiting for one if none; `undefined` after stop or the end of a replay. */
  next(signal?: AbortSignal): Promise<CameraFrame | undefined>;
  /** `next()` in a loop, as an async iterator; ends on stop, end of replay or `signal`. */
  frames(signal?: AbortSignal): AsyncIterableIterator<CameraFrame>;
  stats(): FrameSourceStats;
}
