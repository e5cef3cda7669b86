import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import sharp from 'sharp';
import { EF } from '../../device/document/emrtd.js';
import { parseMrz } from '../../device/document/mrz.js';
import { readDocument } from '../../device/document/read-document.js';
import { EmulatedEmrtd } from '../helpers/emrtd-card.js';
import { dg15Of, dg1Of, dg2Of } from '../helpers/emrtd-files.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';

// ICAO's TD3 specimen; the chip is ours (card emulator), its files signed by a test state.
const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const OTHER = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'.replace('7408122', '7408133')];
const portrait = await sharp({ create: { width: 60, height: 80, channels: 3, background: { r: 180, g: 150, b: 120 } } })
  .jpeg()
  .toBuffer();
const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const state = await makeState('UTO');

async function chip(o: { dg1Mrz?: string[]; withDg15?: boolean; withholdDg15?: boolean } = {}) {
  const dg1 = dg1Of(o.dg1Mrz ?? MRZ);
  const dg2 = dg2Of(portrait, { dataType: 0, width: 60, height: 80 });
  const dg15 = dg15Of(aa.publicKey);
  const signed = new Map([[1, dg1], [2, dg2], ...(o.withDg15 === false ? [] : [[15, dg15] as [number, Buffer]])]);
  const files = new Map([
    [EF.DG1, dg1],
    [EF.DG2, dg2],
    [EF.SOD, await makeSod(state, signed)],
    ...(o.withDg15 === false || o.withholdDg15 ? [] : [[EF.DG15, dg15] as [number, Buffer]]),
  ]);
  return new EmulatedEmrtd({ mrzInformation: 'L898902C3674081221204159', files, aaKey: aa.privateKey });
}

t.test('a genuine chip: passive and active authentication pass, the portrait is decoded, the claims hold no personal data', async (t) => {
  const r = await readDocument(await chip(), parseMrz(MRZ).accessKey, { cscas: [state.csca] });
  t.same([r.portrait.width, r.portrait.height], [60, 80]);
  t.equal(r.documentNumber, 'L898902C3');
  t.match(r.claims, {
    source: 'chip',
    passiveAuth: 'passed',
    chipAuth: 'passed',
    chipAuthMethod: 'active_authentication',
    issuingState: 'UTO',
    documentType: 'P',
    dataGroups: [1, 2, 15],
    portraitFormat: 'jpeg',
  });
  t.match(r.claims.cscaKeyId, /^[0-9a-f]{64}$/);
  t.notMatch(JSON.stringify(r.claims), /ERIKSSON|L898902C|740812/, 'no name, number or birth date in the claims');
});

t.test('without DG15 active authentication is absent; an untrusted state or another MRZ on the chip is refused', async (t) => {
  t.equal((await readDocument(await chip({ withDg15: false }), parseMrz(MRZ).accessKey, { cscas: [state.csca] })).claims.chipAuth, 'absent');
  const other = await makeState('XXA');
  await t.rejects(readDocument(await chip(), parseMrz(MRZ).accessKey, { cscas: [other.csca] }), {
    code: 'E_DOC_PASSIVE_AUTH',
    details: { reason: 'untrusted_csca' },
  });
  // A chip whose (state-signed) DG1 names another birth date than the page the access key came from.
  await t.rejects(readDocument(await chip({ dg1Mrz: OTHER }), parseMrz(MRZ).accessKey, { cscas: [state.csca] }), {
    code: 'E_DOC_PASSIVE_AUTH',
    details: { reason: 'mrz_mismatch' },
  });
});

t.test('a chip that withholds the DG15 its SOD lists is a suspected clone (it would hide the key it cannot use)', async (t) => {
  await t.rejects(readDocument(await chip({ withholdDg15: true }), parseMrz(MRZ).accessKey, { cscas: [state.csca] }), {
    code: 'E_DOC_CLONE_SUSPECTED',
    details: { reason: 'key_file_withheld', dataGroups: [15] },
  });
});
