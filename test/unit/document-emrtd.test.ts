import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { dataGroupsListed, EF, readChip, readWithBac } from '../../device/document/emrtd.js';
import { mrzInformation, parseMrz } from '../../device/document/mrz.js';
import { EmulatedEmrtd } from '../helpers/emrtd-card.js';
import { encodeTlv } from '../../device/document/tlv.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';
import { passiveAuthentication } from '../../device/document/passive-auth.js';

// ICAO's TD3 specimen (Doc 9303 Part 4); the files are made here: DG1 holds the MRZ, DG2 stands for a
// portrait record of 3 KiB (read in several chunks), EF.COM lists them.
const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const info = mrzInformation(parseMrz(MRZ).accessKey);
const withLength = (tag: number, v: Buffer) => encodeTlv([tag], v);
const dg1 = withLength(0x61, Buffer.concat([Buffer.from([0x5f, 0x1f, 88]), Buffer.from(MRZ.join(''), 'ascii')])); // DG1: 61 { 5F1F: the MRZ }
const dg2 = withLength(0x75, randomBytes(3000));
/** EF.COM: LDS 1.7, Unicode 4.0.0, and the tag list of the data groups present. */
const comListing = (tags: number[]) =>
  withLength(0x60, Buffer.concat([Buffer.from('5F0104303130375F3606303430303030', 'hex'), encodeTlv([0x5c], Buffer.from(tags))]));
const com = comListing([0x61, 0x75]);
const files = () =>
  new Map([
    [EF.COM, com],
    [EF.DG1, dg1],
    [EF.DG2, dg2],
  ]);

t.test('BAC, then EF.COM, DG1 and DG2 under secure messaging, whole and byte for byte', async (t) => {
  const card = new EmulatedEmrtd({ mrzInformation: info, files: files() });
  const { files: read, chipAuth, accessControl } = await readWithBac(card, info, ['COM', 'DG1', 'DG2', 'DG14']);
  t.same([...read.keys()], ['COM', 'DG1', 'DG2'], 'DG14, which this card lacks, is left out');
  t.ok(read.get('DG1')!.equals(dg1), 'DG1');
  t.ok(read.get('DG2')!.equals(dg2), `DG2 (${dg2.length} bytes in ${card.apdus} APDUs)`);
  t.ok(read.get('COM')!.equals(com), 'EF.COM');
  t.equal(chipAuth, 'absent', 'no DG14 or DG15, no chip or active authentication');
  t.equal(accessControl, 'bac');
});

t.test('a card that answers errors outside secure messaging (as vicc does): the counter stays in step', async (t) => {
  const card = new EmulatedEmrtd({ mrzInformation: info, files: files(), plainErrors: true });
  const { files: read } = await readChip(card, info, ['DG14', 'DG1', 'DG15', 'DG2']);
  t.same([...read.keys()], ['DG1', 'DG2'], 'the missing DG14 and DG15 skipped, the files after them read');
});

t.test('a wrong MRZ is refused by the card: E_DOC_ACCESS', async (t) => {
  const card = new EmulatedEmrtd({ mrzInformation: info, files: files() });
  const wrong = `${info.slice(0, 10)}7408123${info.slice(17)}`;
  await t.rejects(readWithBac(card, wrong, ['DG1']), { code: 'E_DOC_ACCESS', message: /BAC/, details: { reason: 'access_denied' } });
});

t.test('a card pulled out mid-read is a clean retry', async (t) => {
  const card = new EmulatedEmrtd({ mrzInformation: info, files: files(), removeAfter: 9 });
  await t.rejects(readWithBac(card, info, ['DG1', 'DG2']), { code: 'E_DOC_ACCESS', details: { retry: true } }, 'coded, marked retryable');
  const back = new EmulatedEmrtd({ mrzInformation: info, files: files() });
  const { files: read } = await readWithBac(back, info, ['DG1', 'DG2']);
  t.ok(read.get('DG2')!.equals(dg2), 'read again from the start, whole');
});

t.test('a response whose MAC does not verify ends the read: E_DOC_SM', async (t) => {
  const card = new EmulatedEmrtd({ mrzInformation: info, files: files(), corruptMacAt: 7 });
  await t.rejects(readWithBac(card, info, ['DG1', 'DG2']), { code: 'E_DOC_SM' });
});

t.test('read over BAC, then passive authentication of what was read', async (t) => {
  const state = await makeState('UTO');
  const sod = await makeSod(
    state,
    new Map([
      [1, dg1],
      [2, dg2],
    ]),
  );
  const card = new EmulatedEmrtd({ mrzInformation: info, files: new Map([...files(), [EF.SOD, sod]]) });
  const { files: read } = await readWithBac(card, info, ['DG1', 'DG2', 'SOD']);
  const groups = new Map([
    [1, read.get('DG1')!],
    [2, read.get('DG2')!],
  ]);
  t.same((await passiveAuthentication(read.get('SOD')!, groups, { cscas: [state.csca] })).verified, [1, 2], 'DG1 and DG2 are what the state signed');
  // A cloned chip with its own portrait in DG2 but the genuine SOD: caught by the hash.
  const forged = Buffer.from(dg2);
  forged[50] ^= 0xff;
  const clone = new EmulatedEmrtd({
    mrzInformation: info,
    files: new Map([
      [EF.DG1, dg1],
      [EF.DG2, forged],
      [EF.SOD, sod],
    ]),
  });
  const { files: cloned } = await readWithBac(clone, info, ['DG1', 'DG2', 'SOD']);
  await t.rejects(
    passiveAuthentication(
      cloned.get('SOD')!,
      new Map([
        [1, cloned.get('DG1')!],
        [2, cloned.get('DG2')!],
      ]),
      { cscas: [state.csca] },
    ),
    { code: 'E_DOC_PASSIVE_AUTH', details: { reason: 'dg_hash_mismatch', dataGroup: 2 } },
  );
});

const filesWithout = files;

t.test('EF.COM decides which optional key files are selected: a DG15 it does not list is never asked for', async (t) => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dg15 = withLength(0x6f, pair.publicKey.export({ format: 'der', type: 'spki' }));
  const card = new EmulatedEmrtd({ mrzInformation: info, files: new Map([...files(), [EF.DG15, dg15]]), aaKey: pair.privateKey });
  const r = await readWithBac(card, info, ['DG1', 'DG2', 'DG14', 'DG15']);
  t.same([...r.files.keys()].sort(), ['DG1', 'DG2'], 'DG14 and DG15 not read: EF.COM lists neither');
  t.equal(r.chipAuth, 'absent');
  t.same(dataGroupsListed(com), new Set([0x61, 0x75]), 'the tag list');
  t.equal(dataGroupsListed(undefined), undefined, 'no EF.COM: every file is tried');
  t.equal(dataGroupsListed(Buffer.from('6003010203', 'hex')), undefined, 'no tag list');
});

t.test('active authentication: the chip signs a fresh challenge with its DG15 key; a clone cannot', async (t) => {
  for (const [name, pair] of [
    ['ECDSA P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['RSA 1024, ISO 9796-2', generateKeyPairSync('rsa', { modulusLength: 1024 })],
  ] as const) {
    const dg15 = withLength(0x6f, pair.publicKey.export({ format: 'der', type: 'spki' }));
    const files = () => new Map([...filesWithout(), [EF.COM, comListing([0x61, 0x75, 0x6f])], [EF.DG15, dg15]]);
    const genuine = new EmulatedEmrtd({ mrzInformation: info, files: files(), aaKey: pair.privateKey });
    t.match(await readWithBac(genuine, info, ['DG1', 'DG15']), { chipAuth: 'passed', chipAuthMethod: 'active_authentication' }, `${name}: the genuine chip`);
    // A clone has every file (DG15 too) but not the private key: it can only replay what it recorded.
    const recorded = new EmulatedEmrtd({ mrzInformation: info, files: files(), aaKey: pair.privateKey });
    const replay = await captureSignature(recorded);
    const clone = new EmulatedEmrtd({ mrzInformation: info, files: files(), cloneAnswer: replay });
    await t.rejects(readWithBac(clone, info, ['DG1', 'DG15']), { code: 'E_DOC_CLONE_SUSPECTED' }, `${name}: a clone replaying a recorded signature`);
  }
});

/** The genuine chip's signature over some earlier challenge (what a cloner could record). */
async function captureSignature(card: EmulatedEmrtd): Promise<Buffer> {
  const anyChallenge = Buffer.from('0011223344556677', 'hex');
  return (card as unknown as { internalAuthenticate(c: Buffer): Buffer }).internalAuthenticate(anyChallenge);
}

t.test('files over 32 KiB: READ BINARY with the odd INS past offset 7FFF, read whole (BAC and PACE)', async (t) => {
  for (const size of [40_000, 70_000]) {
    const big = withLength(0x75, randomBytes(size));
    for (const pace of [undefined, { curve: 'P-256' as const, cipher: 'aes128' as const }]) {
      const card = new EmulatedEmrtd({ mrzInformation: info, files: new Map([...files(), [EF.DG2, big]]), ...(pace ? { pace } : {}) });
      const read = await readChip(card, info, ['DG2', 'DG1']);
      const how = `${size} bytes over ${read.accessControl}`;
      t.ok(read.files.get('DG2')!.equals(big), `${how}: byte for byte`);
      t.ok(card.instructions.includes(0xb1), `${how}: INS B1 used`);
      t.ok(read.files.get('DG1')!.equals(dg1), `${how}: the next file still reads`);
    }
  }
});
