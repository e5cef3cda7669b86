/**
 * One document read from its chip, as the session will use it (issue 13): access with the MRZ (PACE
 * when EF.CardAccess offers it, BAC otherwise), the files read under secure messaging, passive
 * authentication of every data group read (DG1, DG2, and DG14/DG15 when present) against the
 * carrier's CSCAs, chip authentication when the chip has DG14 (active authentication when it has
 * only DG15), DG1's MRZ checked against the one the access key came from, and the portrait decoded.
 * The result keeps the portrait and the document number in the process (biometric and personal
 * data); `claims` is what may be signed and sent: no name, number or image.
 */
import { createHash } from 'node:crypto';
import { KioskError } from '../../base/errors.js';
import { readChip, type ApduTransport } from './emrtd.js';
import { mrzInformation, parseMrz, type MrzAccessKey } from './mrz.js';
import { passiveAuthentication } from './passive-auth.js';
import { decodePortrait, portraitFromDg2 } from './portrait.js';
import type { DocumentReading } from './reader.js';
import type { TrustAnchors } from './trust-store.js';

/** The MRZ text DG1 holds (tag 61 { 5F1F: the MRZ }), split into its lines. */
export function mrzFromDg1(dg1: Buffer): string[] {
  const at = dg1.indexOf(Buffer.from([0x5f, 0x1f]));
  if (dg1[0] !== 0x61 || at < 0) throw new KioskError('E_DOC_ACCESS', 'DG1 holds no MRZ', { subject: 'DG1' });
  const len = dg1[at + 2];
  const text = dg1.subarray(at + 3, at + 3 + len).toString('latin1');
  const width = text.length === 90 ? 30 : text.length === 72 ? 36 : 44;
  return Array.from({ length: text.length / width }, (_, i) => text.slice(i * width, (i + 1) * width));
}

/**
 * Reads and authenticates the document whose MRZ was scanned (`mrz`) through `transport`. Throws the
 * step's coded error: E_DOC_MRZ, E_DOC_ACCESS (also `details.reason` pace_downgrade when the signed
 * DG14 lists PACE but the chip was opened with BAC), E_DOC_SM, E_DOC_PASSIVE_AUTH (also when DG1's
 * MRZ is not the scanned one: `details.reason` mrz_mismatch), E_DOC_CLONE_SUSPECTED (also when the SOD
 * lists DG14 or DG15 and the chip withheld it: `key_file_withheld`), E_IMAGE_CORRUPT.
 */
export async function readDocument(transport: ApduTransport, accessKey: MrzAccessKey, trust: TrustAnchors, now = new Date()): Promise<DocumentReading> {
  const read = await readChip(transport, mrzInformation(accessKey), ['DG1', 'DG2', 'DG14', 'DG15', 'SOD']);
  const { files } = read;
  const sod = files.get('SOD');
  const dg1 = files.get('DG1');
  const dg2 = files.get('DG2');
  if (!sod || !dg1 || !dg2) throw new KioskError('E_DOC_ACCESS', 'the chip lacks EF.SOD, DG1 or DG2', { subject: 'chip' });
  const groups = new Map<number, Buffer>([
    [1, dg1],
    [2, dg2],
  ]);
  // DG14 and DG15 hold the keys chip and active authentication proved: worth something only once the state signed them.
  for (const [n, name] of [
    [14, 'DG14'],
    [15, 'DG15'],
  ] as const) {
    const bytes = files.get(name);
    if (bytes) groups.set(n, bytes);
  }
  const pa = await passiveAuthentication(sod, groups, trust, now);
  // The state signed a key file the chip did not hand over: a clone hiding the key it cannot use.
  const hidden = [14, 15].filter((n) => pa.signed.includes(n) && !groups.has(n));
  if (hidden.length > 0)
    throw new KioskError('E_DOC_CLONE_SUSPECTED', `the issuing state signed DG${hidden.join(' and DG')} but the chip did not give it`, {
      subject: 'chip',
      details: { reason: 'key_file_withheld', dataGroups: hidden },
    });
  // DG14 is the state's now: if it lists PACE, EF.CardAccess should have offered it (Part 11, 9.2: DG14 repeats it).
  if (read.accessControl === 'bac' && read.dg14OffersPace)
    throw new KioskError('E_DOC_ACCESS', 'the signed DG14 lists PACE but the chip was opened with BAC: EF.CardAccess was stripped or altered', {
      subject: 'EF.CardAccess',
      details: { reason: 'pace_downgrade' },
    });
  const lines = mrzFromDg1(dg1);
  const chipMrz = parseMrz(lines);
  if (mrzInformation(chipMrz.accessKey) !== mrzInformation(accessKey))
    throw new KioskError('E_DOC_PASSIVE_AUTH', "the chip's MRZ is not the one scanned from the page", { subject: 'DG1', details: { reason: 'mrz_mismatch' } });
  const image = portraitFromDg2(dg2);
  const portrait = await decodePortrait(image);
  return {
    portrait,
    documentNumber: chipMrz.accessKey.documentNumber.replace(/<+$/, ''),
    claims: {
      source: 'chip',
      passiveAuth: 'passed',
      // Reached only when passive authentication passed over DG14/DG15: the chip's proof now counts.
      chipAuth: read.chipAuth,
      ...(read.chipAuthMethod ? { chipAuthMethod: read.chipAuthMethod } : {}),
      accessControl: read.accessControl,
      issuingState: lines[0].slice(2, 5).replace(/<+$/, ''),
      documentType: lines[0].slice(0, 2).replace(/<+$/, ''),
      cscaKeyId: createHash('sha256').update(Buffer.from(pa.csca.publicKey.rawData)).digest('hex'),
      dataGroups: pa.verified,
      portraitFormat: image.format,
    },
  };
}
