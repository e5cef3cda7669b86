import type { Box } from '../base/rgb-image.js';

export interface Point {
  x: number;
  y: number;
}

/**
 * Five keypoints in image pixels, named from the SUBJECT's point of view: `eyeRight` is the
 * subject's own right eye, which appears on the image's left in an unmirrored camera frame.
 * Order matches the ArcFace 112x112 alignment template.
 */
export interface FiveKeypoints {
  eyeRight: Point;
  eyeLeft: Point;
  nose: Point;
  mouthRight: Point;
  mouthLeft: Point;
}

export interface FaceDetection {
  box: Box;
  score: number;
  /** Present when the detector or the landmark stage provides them. */
  keypoints?: FiveKeypoints;
}

/**
 * Head pose in degrees, subject-centred:
 * - yaw > 0: the subject turns the head to their OWN left (their nose moves toward the image's right);
 * - pitch > 0: the subject looks up;
 * - roll > 0: the head tilts toward the subject's own left shoulder.
 * 0/0/0 is frontal to the camera.
 */
export interface HeadPose {
  yaw: number;
  pitch: number;
  roll: number;
}

/** Eye openness per eye: eye aspect ratio (lid gap / eye width), ~0.25-0.35 open, < ~0.15 closed. */
export interface EyeOpenness {
  /** Subject's right eye. */
  right: number;
  /** Subject's left eye. */
  left: number;
  /** Probability the eyes are open from the eye-state model, when it ran (mean of both eyes). */
  openProbability?: number;
}

export interface FaceQuality {
  /** Inter-ocular distance in pixels (the size measure ISO/IEC 29794-5 uses). */
  interEyePx: number;
  /** Face box width in pixels. */
  faceWidthPx: number;
  /** Variance of the Laplacian of the grey face crop (higher is sharper). */
  sharpness: number;
  /** Mean grey level of the face crop, 0-255. */
  brightness: number;
  /** Standard deviation of the grey level of the face crop. */
  contrast: number;
  /**
   * Skin colour of the lower face relative to the nose bridge (~1 bare, ~0 behind a mask; see
   * `lowerFaceSkin`); null when the camera shows too little colour to tell, absent when not measured.
   */
  lowerFaceSkin?: number | null;
}

/** Everything the liveness path produces for one face in one frame. No pixels. */
export interface FaceSignals {
  detection: FaceDetection;
  /** 68 iBUG landmarks in image pixels. */
  landmarks: Point[];
  keypoints: FiveKeypoints;
  eyes: EyeOpenness;
  pose: HeadPose;
  quality: FaceQuality;
}

export interface FrameSignals {
  width: number;
  height: number;
  faces: FaceSignals[];
  /** Milliseconds spent per stage for this frame. */
  timings: Record<string, number>;
}
