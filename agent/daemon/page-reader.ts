/**
 * The MRZ read from the data page held up to the kiosk camera (`document.pageFromCamera`): frames are
 * OCRed one at a time (device/document/mrz-ocr.ts) until one gives an access key whose check digits
 * hold, or the time runs out. The customer then confirms or corrects the fields on the screen: an OCR
 * read is never used unseen. Frames stay in memory; the one being read goes to tesseract over a pipe.
 */
import sharp from 'sharp';
import type { FrameSource } from '../../device/camera/frame-source.js';
import { keyFields } from '../../device/document/mrz.js';
import type { MrzImageRead } from '../../device/document/mrz-ocr.js';
import type { PageRead } from './document-step.js';

export interface CameraPageReaderOptions {
  camera: FrameSource;
  /** Start and stop the camera around the read (camera.capture "session"). */
  ownsCamera: boolean;
  timeoutMs: number;
  /** The OCR (default: readMrzFromImage). */
  ocr?: (png: Buffer) => Promise<MrzImageRead>;
}

/** A `readPage` for the document step: the access-key fields from the camera, or undefined when no frame gave them in time. */
export function cameraPageReader(o: CameraPageReaderOptions): (signal: AbortSignal) => Promise<PageRead | undefined> {
  return async (signal) => {
    const ocr = o.ocr ?? (async (png: Buffer) => (await import('../../device/document/mrz-ocr.js')).readMrzFromImage(png));
    const done = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]);
    if (o.ownsCamera) await o.camera.start();
    try {
      for await (const frame of o.camera.frames(done)) {
        const { width, height, data } = frame.image;
        const png = await sharp(data, { raw: { width, height, channels: 3 } })
          .png()
          .toBuffer();
        const read = await ocr(png).catch(() => undefined);
        if (read?.accessKey) return { fields: keyFields(read.accessKey), invalid: [] };
        if (done.aborted) break;
      }
      return undefined;
    } catch (err) {
      if (done.aborted) return undefined;
      throw err;
    } finally {
      if (o.ownsCamera) await o.camera.stop().catch(() => undefined);
    }
  };
}
