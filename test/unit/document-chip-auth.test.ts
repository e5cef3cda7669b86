/**
 * Chip authentication (DG14, ICAO Doc 9303 Part 11, 6.2) against the card emulator: the static key
 * parsed from DG14, the key agreement after PACE (AES: MSE:Set AT + General Authenticate) and after
 * BAC (3DES: MSE:Set KAT), the rest of the read under the new keys, a clone with the copied files
 * but not the private key caught, and the proof counted only once passive authentication passed.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { encodeOid, parseSecurityInfos } from '../../device/document/card-access.js';
import { chipAuthPlan, runChipAuthentication } from '../../device/document/chip-auth.js';
import { curveByName, ecPublicKeyFromSpki, encodePoint } from '../../device/document/ec-curves.js';
import { EF, readChip } from '../../device/document/emrtd.js';
import { mrzInformation, parseMrz } from '../../device/document/mrz.js';
import { readDocument } from '../../device/document/read-document.js';
import { encodeTlv } from '../../device/document/tlv.js';
import { EmulatedEmrtd } from '../helpers/emrtd-card.js';
import { chipAuthKey, dg14Of } from '../helpers/emrtd-card-auth.js';
import { paceInfoOf, type PaceOffer } from '../helpers/emrtd-card-pace.js';
import { dg15Of, dg1Of, dg2Of } from '../helpers/emrtd-files.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';

const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const info = mrzInformation(parseMrz(MRZ).accessKey);
const dg1 = dg1Of(MRZ);
const dg2 = encodeTlv([0x75], randomBytes(2000));
const PACE: PaceOffer = { curve: 'brainpoolP256r1', cipher: 'aes128' };

t.test('DG14: the chip authentication protocol and its static key', async (t) => {
  for (const [curve, cipher] of [
    ['brainpoolP256r1', 'aes128'],
    ['P-256', 'aes256'],
    ['brainpoolP384r1', 'aes192'],
    ['P-384', '3des'],
    ['brainpoolP512r1', 'aes256'],
  ] as const) {
    const plan = chipAuthPlan(parseSecurityInfos(dg14Of(chipAuthKey(curve, cipher, 1)), 'DG14'));
    t.match(plan, { curve: { name: curve }, info: { cipher, keyId: 1 } }, `${curve} with ${cipher}`);
  }
  const bare = chipAuthPlan(parseSecurityInfos(dg14Of(chipAuthKey('P-256', 'aes128'), { withInfo: false }), 'DG14'));
  t.equal(bare?.info.cipher, '3des', 'a key without ChipAuthenticationInfo: version 1 with 3DES');
  t.equal(chipAuthPlan(parseSecurityInfos(Buffer.from('6E023100', 'hex'), 'DG14')), undefined, 'an empty DG14 offers nothing');
  t.throws(() => parseSecurityInfos(Buffer.from('6E0330010A', 'hex'), 'DG14'), { code: 'E_DOC_ACCESS' }, 'a malformed DG14');
});

t.test('a genuine chip: chip authentication, then the rest read under the new keys (AES after PACE, 3DES after BAC)', async (t) => {
  const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (const [access, cipher] of [
    ['pace', 'aes128'],
    ['pace', '3des'],
    ['bac', '3des'],
    ['bac', 'aes256'],
  ] as const) {
    const key = chipAuthKey('brainpoolP256r1', cipher);
    const card = new EmulatedEmrtd({
      mrzInformation: info,
      files: new Map([
        [EF.DG1, dg1],
        [EF.DG2, dg2],
        [EF.DG14, dg14Of(key)],
        [EF.DG15, dg15Of(aa.publicKey)],
      ]),
      ...(access === 'pace' ? { pace: PACE } : {}),
      chipAuthKey: key,
      aaKey: aa.privateKey,
    });
    const read = await readChip(card, info, ['DG1', 'DG2', 'DG14', 'DG15']);
    t.match(read, { accessControl: access, chipAuth: 'passed', chipAuthMethod: 'chip_authentication' }, `${access}, chip authentication with ${cipher}`);
    t.ok(read.files.get('DG2')!.equals(dg2), `${access}/${cipher}: DG2 whole, read under the new keys`);
    t.notOk(card.instructions.includes(0x88), `${access}/${cipher}: active authentication not needed`);
  }
});

t.test('a clone with the copied DG14 but not the private key: E_DOC_CLONE_SUSPECTED', async (t) => {
  for (const [access, cipher] of [
    ['pace', 'aes128'],
    ['bac', '3des'],
  ] as const) {
    const key = chipAuthKey('brainpoolP256r1', cipher);
    const files = new Map([
      [EF.DG1, dg1],
      [EF.DG2, dg2],
      [EF.DG14, dg14Of(key)],
    ]);
    const pace = access === 'pace' ? { pace: PACE } : {};
    await t.rejects(
      readChip(new EmulatedEmrtd({ mrzInformation: info, files, ...pace }), info, ['DG1', 'DG2', 'DG14']),
      { code: 'E_DOC_CLONE_SUSPECTED' },
      `${access}/${cipher}`,
    );
    // Even when nothing is left to read after DG14, the new keys are put to the test.
    await t.rejects(
      readChip(new EmulatedEmrtd({ mrzInformation: info, files, ...pace }), info, ['DG14']),
      { code: 'E_DOC_CLONE_SUSPECTED' },
      `${access}/${cipher}, DG14 only`,
    );
    // A clone that has some other key of its own (DG14 copied, the key not): same.
    const other = chipAuthKey('brainpoolP256r1', cipher);
    await t.rejects(
      readChip(new EmulatedEmrtd({ mrzInformation: info, files, ...pace, chipAuthKey: other }), info, ['DG1', 'DG14']),
      { code: 'E_DOC_CLONE_SUSPECTED' },
      `${access}/${cipher}, a clone with a key of its own`,
    );
  }
});

t.test('readDocument: DG14 goes through passive authentication before the proof counts', async (t) => {
  const state = await makeState('UTO');
  const portrait = await sharp({ create: { width: 40, height: 50, channels: 3, background: { r: 120, g: 100, b: 90 } } })
    .jpeg()
    .toBuffer();
  const dg2Jpeg = dg2Of(portrait, { dataType: 0, width: 40, height: 50 });
  const key = chipAuthKey('brainpoolP256r1', 'aes128');
  const dg14 = dg14Of(key);
  const chip = async (signed: Map<number, Buffer>, o: { clone?: boolean } = {}) =>
    new EmulatedEmrtd({
      mrzInformation: info,
      files: new Map([
        [EF.DG1, dg1],
        [EF.DG2, dg2Jpeg],
        [EF.DG14, dg14],
        [EF.SOD, await makeSod(state, signed)],
      ]),
      pace: PACE,
      ...(o.clone ? {} : { chipAuthKey: key }),
    });
  const all = new Map([
    [1, dg1],
    [2, dg2Jpeg],
    [14, dg14],
  ]);
  const r = await readDocument(await chip(all), parseMrz(MRZ).accessKey, { cscas: [state.csca] });
  t.match(r.claims, { accessControl: 'pace', passiveAuth: 'passed', chipAuth: 'passed', chipAuthMethod: 'chip_authentication', dataGroups: [1, 2, 14] });
  // A DG14 the state did not sign (a cloner's own key): passive authentication refuses, nothing is claimed.
  const forged = chipAuthKey('brainpoolP256r1', 'aes128');
  const forgedChip = new EmulatedEmrtd({
    mrzInformation: info,
    files: new Map([
      [EF.DG1, dg1],
      [EF.DG2, dg2Jpeg],
      [EF.DG14, dg14Of(forged)],
      [EF.SOD, await makeSod(state, all)],
    ]),
    pace: PACE,
    chipAuthKey: forged,
  });
  await t.rejects(readDocument(forgedChip, parseMrz(MRZ).accessKey, { cscas: [state.csca] }), {
    code: 'E_DOC_PASSIVE_AUTH',
    details: { reason: 'dg_hash_mismatch', dataGroup: 14 },
  });
  const clone = await chip(all, { clone: true });
  await t.rejects(readDocument(clone, parseMrz(MRZ).accessKey, { cscas: [state.csca] }), { code: 'E_DOC_CLONE_SUSPECTED' }, 'the clone, through readDocument');
});

t.test('a DG14 key with explicit domain parameters is matched to its curve, never taken as given', async (t) => {
  const key = chipAuthKey('brainpoolP256r1', 'aes128');
  const curve = curveByName('brainpoolP256r1')!;
  const k = curve.Point.CURVE();
  const int = (n: bigint) => {
    let h = n.toString(16);
    if (h.length % 2) h = `0${h}`;
    if (Number.parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
    return encodeTlv([0x02], Buffer.from(h, 'hex'));
  };
  const octets = (n: bigint) => encodeTlv([0x04], Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
  const spki = (generator: Buffer) =>
    encodeTlv(
      [0x30],
      Buffer.concat([
        encodeTlv(
          [0x30],
          Buffer.concat([
            encodeTlv([0x06], encodeOid('1.2.840.10045.2.1')),
            encodeTlv(
              [0x30],
              Buffer.concat([
                int(1n),
                encodeTlv([0x30], Buffer.concat([encodeTlv([0x06], encodeOid('1.2.840.10045.1.1')), int(k.p)])),
                encodeTlv([0x30], Buffer.concat([octets(k.a), octets(k.b)])),
                encodeTlv([0x04], generator),
                int(k.n),
                int(1n),
              ]),
            ),
          ]),
        ),
        encodeTlv([0x03], Buffer.concat([Buffer.from([0]), key.ecdh.getPublicKey()])),
      ]),
    );
  const base = encodePoint(curve.Point.BASE);
  t.equal(ecPublicKeyFromSpki(spki(base))?.curve.name, 'brainpoolP256r1', 'explicit brainpoolP256r1 parameters');
  t.equal(ecPublicKeyFromSpki(spki(encodePoint(curve.Point.BASE.multiply(2n)))), undefined, 'the same curve with another generator: not a known curve');
});

t.test('a chip that refuses the key agreement: E_DOC_CLONE_SUSPECTED', async (t) => {
  for (const cipher of ['3des', 'aes128'] as const) {
    const plan = chipAuthPlan(parseSecurityInfos(dg14Of(chipAuthKey('P-256', cipher)), 'DG14'))!;
    // Refuses the MSE, would accept anything after it: the refusal alone must stop the protocol.
    let n = 0;
    const refusing = async () => ({ data: n++ === 0 ? Buffer.alloc(0) : Buffer.from('7C00', 'hex'), sw: n === 1 ? 0x6a80 : 0x9000 });
    await t.rejects(runChipAuthentication(refusing, plan), { code: 'E_DOC_CLONE_SUSPECTED', details: { sw: 0x6a80 } }, `${cipher}: MSE refused`);
    let m = 0;
    const refusingGa = async () => ({ data: Buffer.alloc(0), sw: m++ === 0 ? 0x9000 : 0x6300 });
    if (cipher !== '3des')
      await t.rejects(
        runChipAuthentication(refusingGa, plan),
        { code: 'E_DOC_CLONE_SUSPECTED', details: { sw: 0x6300 } },
        `${cipher}: GENERAL AUTHENTICATE refused`,
      );
  }
});

t.test("DG14's ActiveAuthenticationInfo names the ECDSA hash active authentication checks with", async (t) => {
  const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' }); // the emulator signs with SHA-256
  const aaInfo = (hashOid: string) =>
    encodeTlv(
      [0x6e],
      encodeTlv(
        [0x31],
        encodeTlv(
          [0x30],
          Buffer.concat([encodeTlv([0x06], encodeOid('2.23.136.1.1.5')), encodeTlv([0x02], Buffer.from([1])), encodeTlv([0x06], encodeOid(hashOid))]),
        ),
      ),
    );
  const card = (dg14: Buffer) =>
    new EmulatedEmrtd({
      mrzInformation: info,
      files: new Map([
        [EF.DG1, dg1],
        [EF.DG14, dg14],
        [EF.DG15, dg15Of(aa.publicKey)],
      ]),
      aaKey: aa.privateKey,
    });
  t.match(
    await readChip(card(aaInfo('1.2.840.10045.4.3.2')), info, ['DG1', 'DG14', 'DG15']),
    { chipAuth: 'passed', chipAuthMethod: 'active_authentication' },
    'ecdsa-with-SHA256: verifies',
  );
  await t.rejects(
    readChip(card(aaInfo('1.2.840.10045.4.3.3')), info, ['DG1', 'DG14', 'DG15']),
    { code: 'E_DOC_CLONE_SUSPECTED' },
    'ecdsa-with-SHA384 named: the SHA-256 signature does not verify',
  );
});

t.test("EF.CardAccess stripped on the way (PACE downgraded to BAC): the signed DG14's copy of PACEInfo catches it", async (t) => {
  const state = await makeState('UTO');
  const portrait = await sharp({ create: { width: 40, height: 50, channels: 3, background: { r: 120, g: 100, b: 90 } } })
    .jpeg()
    .toBuffer();
  const dg2Jpeg = dg2Of(portrait, { dataType: 0, width: 40, height: 50 });
  const key = chipAuthKey('brainpoolP256r1', 'aes128');
  const dg14 = dg14Of(key, { paceInfos: [paceInfoOf(PACE)] });
  const sod = await makeSod(
    state,
    new Map([
      [1, dg1],
      [2, dg2Jpeg],
      [14, dg14],
    ]),
  );
  const files = new Map([
    [EF.DG1, dg1],
    [EF.DG2, dg2Jpeg],
    [EF.DG14, dg14],
    [EF.SOD, sod],
  ]);
  const honest = await readDocument(new EmulatedEmrtd({ mrzInformation: info, files, pace: PACE, chipAuthKey: key }), parseMrz(MRZ).accessKey, {
    cscas: [state.csca],
  });
  t.match(honest.claims, { accessControl: 'pace', chipAuth: 'passed' }, 'EF.CardAccess intact: PACE');
  // The same chip behind a relay that answers "no such file" for EF.CardAccess.
  const stripped = new EmulatedEmrtd({ mrzInformation: info, files, chipAuthKey: key });
  await t.rejects(readDocument(stripped, parseMrz(MRZ).accessKey, { cscas: [state.csca] }), { code: 'E_DOC_ACCESS', details: { reason: 'pace_downgrade' } });
});
