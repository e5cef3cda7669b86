/**
 * `kiosk-agent verify --document pcsc`: a whole session against the portrait read from a document's
 * chip, through the real PC/SC stack (a private pcscd with Debian's vpcd reader driver; the card is
 * our emulated eMRTD, whose DG2 holds a real person's selfie from ../shared/data, signed by a test
 * state). The live video of the same person is accepted with `reference.source = chip`; the same
 * video against another person's chip is refused (no_match); a chip whose state the kiosk does not trust gives no session.
 * Nothing personal appears on stdout or stderr.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { docNumberHash } from '../../agent/reference/chip.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';
import { makeState } from '../helpers/emrtd-sod.js';
import { freePort } from '../helpers/mosquitto.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { pcscSkipReason, PrivatePcscd, VpcdCard } from '../helpers/vpcd-card.js';
import { signedChip } from '../helpers/emrtd-chip.js';

const skip = !hasData ? NO_DATA : await pcscSkipReason();

const SAMPLES = 'trainingdata-antispoof-real/samples';
const MAN = `${SAMPLES}/0001e96803--621ea6b1e2c5d221d5131267`;
const WOMAN = `${SAMPLES}/0001e96803--621ea6f51185323cad2533b8`;
const MRZ = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];

const cli = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'agent/cli/main.ts', 'verify', ...args], { timeout: 240_000 }, (error, out, err) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 2) : 0, out, err }),
    );
  });

t.test('verify --document pcsc: a session against the chip portrait', { skip }, async (t) => {
  const dir = ownTempDir(t, 'verify-document-');
  const pcscd = new PrivatePcscd(dir, await freePort());
  await pcscd.start();
  t.teardown(() => pcscd.stop());
  const vcard = new VpcdCard();
  await vcard.connect(pcscd.port);
  t.teardown(() => vcard.close());

  const state = await makeState('UTO');
  const aa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  /** A chip whose DG2 holds `selfie` as a 480-wide JPEG (the size chips carry), signed by `state`. */
  const chipWith = async (selfie: string) => {
    const jpeg = await sharp(readFileSync(dataPath(selfie)))
      .rotate()
      .resize({ width: 480 })
      .jpeg({ quality: 85 })
      .toBuffer();
    const meta = await sharp(jpeg).metadata();
    return signedChip({ mrz: MRZ, jpeg, width: meta.width ?? 480, height: meta.height ?? 640, state, aaKey: aa });
  };
  const trusted = join(dir, 'csca');
  mkdirSync(trusted);
  writeFileSync(join(trusted, 'uto.pem'), state.csca.toString('pem'));
  const key = randomBytes(32);
  const keyFile = join(dir, 'number.key');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const args = (video: string, csca = trusted) => [
    '--document',
    'pcsc',
    '--mrz',
    MRZ.join(','),
    '--csca',
    csca,
    '--number-key',
    keyFile,
    '--document-timeout',
    '20',
    '--video',
    dataPath(video),
    '--challenge',
    'turn_left,turn_right,look_up,look_down',
    '--fast',
    '--json',
  ];

  vcard.card = await chipWith(`${MAN}/live_selfie.jpg`);
  const genuine = await cli(args(`${MAN}/live_video.MOV`));
  t.equal(genuine.code, 0, `the holder of the chip is accepted (${genuine.code === 0 ? '' : genuine.out.slice(0, 400)})`);
  const outcome = JSON.parse(genuine.out) as { result: { verdict: string }; referenceSource: Record<string, unknown> };
  t.same(
    outcome.referenceSource,
    {
      source: 'chip',
      passiveAuth: 'passed',
      chipAuth: 'passed',
      chipAuthMethod: 'active_authentication',
      accessControl: 'bac',
      issuingState: 'UTO',
      documentType: 'P',
      cscaKeyId: outcome.referenceSource.cscaKeyId,
      docNumberHash: docNumberHash(key, 'UTO', 'L898902C3'),
    },
    'the reference claim: chip, authenticated, the document number only as its keyed hash',
  );
  t.notMatch(genuine.out + genuine.err, /ERIKSSON|L898902C|740812/, 'no name, number or birth date on stdout or stderr');

  vcard.card = await chipWith(`${WOMAN}/live_selfie.jpg`);
  const impostor = await cli(args(`${MAN}/live_video.MOV`));
  t.equal(impostor.code, 1, "someone else's document: rejected");
  t.match(JSON.parse(impostor.out), { result: { verdict: 'reject', reasons: ['no_match'] }, referenceSource: { source: 'chip' } });

  const other = join(dir, 'other-csca');
  mkdirSync(other);
  writeFileSync(join(other, 'xxa.pem'), (await makeState('XXA')).csca.toString('pem'));
  const untrusted = await cli(args(`${MAN}/live_video.MOV`, other));
  t.equal(untrusted.code, 2, 'a document the kiosk cannot authenticate: no session');
  t.match(untrusted.out + untrusted.err, /E_DOC_PASSIVE_AUTH/);
});
