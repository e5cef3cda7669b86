/**
 * A chip read through the real PC/SC stack: a private pcscd (Debian) with the vpcd reader driver
 * (Debian's vsmartcard-vpcd), our emulated eMRTD connected to vpcd as the card, and the kiosk's
 * PC/SC adapter (the optional @pokusew/pcsclite binding) reading it: BAC, secure messaging, passive
 * and active authentication, the portrait; a card taken away mid-read is a clean retry.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import sharp from 'sharp';
import { EF, readWithBac } from '../../device/document/emrtd.js';
import { parseMrz } from '../../device/document/mrz.js';
import { PcscReaders } from '../../device/document/pcsc.js';
import { readDocument } from '../../device/document/read-document.js';
import { EmulatedEmrtd } from '../helpers/emrtd-card.js';
import { dg15Of, dg1Of, dg2Of } from '../helpers/emrtd-files.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';
import { freePort } from '../helpers/mosquitto.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { pcscSkipReason, PrivatePcscd, VpcdCard } from '../helpers/vpcd-card.js';

const skip = await pcscSkipReason();

t.test('a document read through pcscd and vpcd', { skip }, async (t) => {
  const dir = ownTempDir(t, 'document-pcsc-');
  const pcscd = new PrivatePcscd(dir, await freePort());
  await pcscd.start();
  t.teardown(() => pcscd.stop());
  const vcard = new VpcdCard();
  await vcard.connect(pcscd.port);
  t.teardown(() => vcard.close());

  const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
  const state = await makeState('UTO');
  const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const image = await sharp({ create: { width: 60, height: 80, channels: 3, background: { r: 170, g: 140, b: 110 } } })
    .jpeg()
    .toBuffer();
  const dg1 = dg1Of(MRZ);
  const dg2 = dg2Of(image, { dataType: 0, width: 60, height: 80 });
  const dg15 = dg15Of(aa.publicKey);
  const sod = await makeSod(
    state,
    new Map([
      [1, dg1],
      [2, dg2],
      [15, dg15],
    ]),
  );
  const files = new Map([
    [EF.DG1, dg1],
    [EF.DG2, dg2],
    [EF.DG15, dg15],
    [EF.SOD, sod],
  ]);
  const info = 'L898902C3674081221204159';
  vcard.card = new EmulatedEmrtd({ mrzInformation: info, files, aaKey: aa.privateKey });

  const readers = new PcscReaders();
  readers.start();
  t.teardown(() => readers.stop());
  const card = await readers.waitForCard({ timeoutMs: 15_000 });
  t.match(card.readerName, /Virtual PCD/, `the card is on pcscd's vpcd reader (${card.readerName})`);
  const r = await readDocument(card, parseMrz(MRZ).accessKey, { cscas: [state.csca] });
  t.match(
    r.claims,
    { source: 'chip', passiveAuth: 'passed', chipAuth: 'passed', chipAuthMethod: 'active_authentication', dataGroups: [1, 2, 15] },
    'read and authenticated through PC/SC',
  );
  t.same([r.portrait.width, r.portrait.height], [60, 80], 'the portrait');
  await card.disconnect();

  // Taken away mid-read: the virtual card leaves vpcd after a few APDUs.
  const leaving = new EmulatedEmrtd({ mrzInformation: info, files });
  let n = 0;
  vcard.card = {
    transmit: async (apdu) => {
      if (++n === 8) vcard.close();
      return leaving.transmit(apdu);
    },
  };
  const again = await readers.waitForCard({ timeoutMs: 15_000 });
  await t.rejects(
    readWithBac(again, info, ['DG1', 'DG2']),
    { code: 'E_DOC_ACCESS', details: { retry: true } },
    'a card pulled out mid-read: E_DOC_ACCESS, retry',
  );
  await again.disconnect();
  // Put back: a fresh read from the start succeeds.
  const back = new VpcdCard();
  back.card = new EmulatedEmrtd({ mrzInformation: info, files, aaKey: aa.privateKey });
  await back.connect(pcscd.port);
  t.teardown(() => back.close());
  let tries = 0;
  const read = await readers.withCard(
    (c) => {
      tries++;
      return readDocument(c, parseMrz(MRZ).accessKey, { cscas: [state.csca] });
    },
    { timeoutMs: 15_000, attempts: 5 },
  );
  t.match(read.claims, { passiveAuth: 'passed' }, `the card put back is read whole (withCard, ${tries} attempt(s))`);
  readers.stop();

  // The command line: `kiosk-agent document read` against the same virtual reader.
  const cli = (args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'document', 'read', ...args], { timeout: 60_000 }, (error, out, err) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 2) : 0, out, err }),
      );
    });
  const trusted = join(dir, 'csca');
  mkdirSync(trusted);
  writeFileSync(join(trusted, 'uto.pem'), state.csca.toString('pem'));
  const portraitOut = join(dir, 'portrait.png');
  const ok = await cli(['--mrz', MRZ.join(','), '--csca', trusted, '--portrait-out', portraitOut, '--document-timeout', '20']);
  t.equal(ok.code, 0, `document read: exit 0 (${ok.err.slice(0, 300)})`);
  t.match(JSON.parse(ok.out), {
    ok: true,
    source: 'chip',
    passiveAuth: 'passed',
    chipAuth: 'passed',
    chipAuthMethod: 'active_authentication',
    issuingState: 'UTO',
    documentType: 'P',
  });
  t.notMatch(ok.out + ok.err, /ERIKSSON|L898902C|740812/, 'no name, number or birth date on stdout or stderr');
  t.equal(statSync(portraitOut).mode & 0o777, 0o600, 'the portrait file, only when asked, mode 0600');
  // --mrz-from: the same chip opened with the MRZ read from a photo of ICAO's specimen page (PassportEye's test image).
  const page = dataPath('passporteye-specimens/tests/data/passport-td3.png');
  if (hasData && existsSync(page)) {
    const fromPhoto = await cli(['--mrz-from', page, '--csca', trusted, '--document-timeout', '20']);
    t.equal(fromPhoto.code, 0, `document read --mrz-from: exit 0 (${fromPhoto.err.slice(0, 300)})`);
    t.match(JSON.parse(fromPhoto.out), { ok: true, passiveAuth: 'passed', issuingState: 'UTO' });
    t.notMatch(fromPhoto.out + fromPhoto.err, /ERIKSSON|L898902C|740812/, 'nothing read from the page is printed');
  } else t.comment(`--mrz-from not tried: ${NO_DATA}`);
  const untrusted = join(dir, 'other-csca');
  mkdirSync(untrusted);
  writeFileSync(join(untrusted, 'xxa.pem'), (await makeState('XXA')).csca.toString('pem'));
  const refused = await cli(['--mrz', MRZ.join(','), '--csca', untrusted, '--document-timeout', '20']);
  t.equal(refused.code, 1, 'exit 1 when a check refuses the document');
  t.match(JSON.parse(refused.out), { ok: false, code: 'E_DOC_PASSIVE_AUTH', reason: 'untrusted_csca' });
});
