/**
 * The kiosk's PC/SC document reader against a chip emulator that is not ours: Debian's vicc
 * (python3-virtualsmartcard) as an ICAO ePassport on the vpcd reader of a private pcscd. Through
 * the real stack (PcscDocumentReader → @pokusew/pcsclite → pcscd → vpcd → vicc) the reader opens
 * the card with BAC, reads DG1, DG2 and EF.SOD under vicc's 3DES secure messaging, passive
 * authentication passes with the test CSCA, and the portrait decodes; a wrong MRZ and a CSCA the
 * carrier does not trust are refused with their codes.
 */
import t from 'tap';
import sharp from 'sharp';
import { readChip } from '../../device/document/emrtd.js';
import { accessKeyFromFields, mrzInformation, parseMrz } from '../../device/document/mrz.js';
import { passiveAuthentication } from '../../device/document/passive-auth.js';
import { PcscReaders } from '../../device/document/pcsc.js';
import { PcscDocumentReader } from '../../device/document/pcsc-reader.js';
import { decodePortrait, portraitFromDg2 } from '../../device/document/portrait.js';
import { dg1Of, dg2Of } from '../helpers/emrtd-files.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';
import { freePort } from '../helpers/mosquitto.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { ViccEpass, viccMissing } from '../helpers/vicc.js';
import { pcscSkipReason, PrivatePcscd } from '../helpers/vpcd-card.js';

const vicc = viccMissing();
const skip = vicc || (await pcscSkipReason());

// ICAO 9303-3's specimen passport (a TD3 MRZ: vicc's ePass takes its BAC key from DG1 at TD3 offsets).
const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const [W, H] = [48, 64];

t.test("an ePassport emulated by Debian's vicc, read through pcscd and vpcd", { skip }, async (t) => {
  const dir = ownTempDir(t, 'document-vicc-');
  const pcscd = new PrivatePcscd(dir, await freePort());
  await pcscd.start();
  t.teardown(() => pcscd.stop());

  const state = await makeState('UTO');
  // A portrait with structure (a gradient and a dark block), so that a decode is checked pixel by pixel.
  const raw = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const dark = x >= 12 && x < 36 && y >= 16 && y < 40;
      raw.set(dark ? [20, 20, 20] : [200, 120 + y, 60 + x * 2], (y * W + x) * 3);
    }
  const jpeg = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
  const dg1 = dg1Of(MRZ);
  const dg2 = dg2Of(jpeg, { dataType: 0, width: W, height: H });
  const sod = await makeSod(
    state,
    new Map([
      [1, dg1],
      [2, dg2],
    ]),
  );
  const card = new ViccEpass({ dir, port: pcscd.port, files: { dg1, dg2, sod }, verbose: !!process.env.VICC_VERBOSE });
  await card.start();
  t.teardown(() => card.stop());
  // On a failure, vicc's log (every APDU with VICC_VERBOSE=1) says what the card saw.
  t.teardown(() => {
    if (!t.passing() && card.log) t.comment(`vicc log (tail):\n${card.log.slice(-4000)}`);
  });

  const expected = await sharp(jpeg).raw().toBuffer();
  const largestDifference = (data: Uint8Array) => expected.reduce((m, v, i) => Math.max(m, Math.abs(v - data[i])), 0);

  await t.test('the chip layer: BAC, then DG1, DG2 and EF.SOD under vicc’s 3DES secure messaging', async (t) => {
    const readers = new PcscReaders();
    readers.start();
    t.teardown(() => readers.stop());
    const chip = await readers.withCard((c) => readChip(c, mrzInformation(parseMrz(MRZ).accessKey), ['DG1', 'DG2', 'SOD']), { timeoutMs: 20_000, attempts: 1 });
    t.equal(chip.accessControl, 'bac', 'no EF.CardAccess on vicc’s ePass: BAC');
    t.same([chip.files.get('DG1'), chip.files.get('DG2'), chip.files.get('SOD')], [dg1, dg2, sod], 'the files read are the files vicc serves, byte for byte');
    const groups = new Map([
      [1, chip.files.get('DG1') as Buffer],
      [2, chip.files.get('DG2') as Buffer],
    ]);
    const pa = await passiveAuthentication(chip.files.get('SOD') as Buffer, groups, { cscas: [state.csca] });
    t.same(pa.verified, [1, 2], 'passive authentication with the test CSCA');
    const portrait = await decodePortrait(portraitFromDg2(groups.get(2) as Buffer));
    t.equal(largestDifference(portrait.data), 0, 'the portrait decodes to the JPEG’s pixels');
  });

  // The kiosk's reader as the session uses it. readDocument also asks for DG14 and DG15, which vicc's
  // ePass lacks: it answers their SELECT with a bare 6A82 (no MAC, its send sequence counter not
  // counted), and the reader must go on under the same counter.
  const read = async (cscas: (typeof state.csca)[], accessKey = parseMrz(MRZ).accessKey) => {
    const reader = new PcscDocumentReader({ trust: { cscas }, attempts: 1 });
    await reader.start();
    try {
      return await reader.read({ accessKey, timeoutMs: 20_000 });
    } finally {
      await reader.stop();
    }
  };

  await t.test('PcscDocumentReader: read, authenticated, refused with the wrong MRZ or an untrusted CSCA', async (t) => {
    const r = await read([state.csca]);
    t.match(
      r.claims,
      {
        source: 'chip',
        accessControl: 'bac',
        passiveAuth: 'passed',
        chipAuth: 'absent',
        dataGroups: [1, 2],
        portraitFormat: 'jpeg',
        issuingState: 'UTO',
        documentType: 'P',
      },
      'BAC, DG1, DG2 and EF.SOD; passive authentication passed; no chip authentication on vicc',
    );
    t.equal(r.documentNumber, 'L898902C3', "the document number from the chip's DG1");
    t.same([r.portrait.width, r.portrait.height], [W, H], 'the portrait decodes at its size');
    t.equal(largestDifference(r.portrait.data), 0, 'the portrait is the JPEG’s pixels');

    const otherDocument = accessKeyFromFields({ documentNumber: 'L898902C4', birthDate: '740812', expiryDate: '120415' });
    await t.rejects(read([state.csca], otherDocument), { code: 'E_DOC_ACCESS' }, 'the MRZ of another document: vicc refuses BAC, E_DOC_ACCESS');

    const foreign = await makeState('XXA');
    await t.rejects(
      read([foreign.csca]),
      { code: 'E_DOC_PASSIVE_AUTH', details: { reason: 'untrusted_csca' } },
      'a CSCA the carrier does not trust: E_DOC_PASSIVE_AUTH untrusted_csca',
    );
    t.match((await read([state.csca])).claims, { passiveAuth: 'passed' }, 'read again after the refusals (vicc still serves)');
  });
});
