/** A whole chip for the card emulator, as the integration tests insert it into the virtual reader. */
import type { KeyObject } from 'node:crypto';
import { EF } from '../../device/document/emrtd.js';
import { mrzInformation, parseMrz } from '../../device/document/mrz.js';
import { EmulatedEmrtd } from './emrtd-card.js';
import { dg15Of, dg1Of, dg2Of } from './emrtd-files.js';
import { makeSod, type TestState } from './emrtd-sod.js';

export interface SignedChipOptions {
  /** The MRZ lines DG1 holds (the access key comes from them). */
  mrz: string[];
  /** The portrait, JPEG, and its size. */
  jpeg: Buffer;
  width: number;
  height: number;
  /** The test state whose DS signs EF.SOD. */
  state: TestState;
  /** The active-authentication key pair (DG15). */
  aaKey: { publicKey: KeyObject; privateKey: KeyObject };
}

/** DG1, DG2 and DG15 with an EF.SOD over all three signed by `state`; the chip answers BAC with the MRZ's key and active authentication with `aaKey`. */
export async function signedChip(o: SignedChipOptions): Promise<EmulatedEmrtd> {
  const dg1 = dg1Of(o.mrz);
  const dg2 = dg2Of(o.jpeg, { dataType: 0, width: o.width, height: o.height });
  const dg15 = dg15Of(o.aaKey.publicKey);
  const groups = new Map([
    [1, dg1],
    [2, dg2],
    [15, dg15],
  ]);
  return new EmulatedEmrtd({
    mrzInformation: mrzInformation(parseMrz(o.mrz).accessKey),
    files: new Map([
      [EF.DG1, dg1],
      [EF.DG2, dg2],
      [EF.DG15, dg15],
      [EF.SOD, await makeSod(o.state, groups)],
    ]),
    aaKey: o.aaKey.privateKey,
  });
}
