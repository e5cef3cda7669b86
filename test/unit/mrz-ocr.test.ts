import t from 'tap';
import sharp from 'sharp';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accessKeyFromImageFile, readMrzFromImage, requireAccessKey } from '../../device/document/mrz-ocr.js';
import { ownTempDir } from '../helpers/tempdir.js';
import { candidateLines, checkAndRepair, checkDigit, lineVariants } from '../../device/document/mrz-ocr-text.js';
import { rejectsWithCode } from '../helpers/errors.js';

// The ICAO 9303 specimen (Part 4 appendix, the "Utopia" passport); public test values, no real person.
const TD3 = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const TD1 = ['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'];

const hasTesseract = (() => {
  try {
    execFileSync('tesseract', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const hasOcrB = (() => {
  try {
    return execFileSync('fc-list', [':family=OCR B'], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
})();
const NO_OCR = !hasTesseract
  ? 'tesseract is not installed (Debian tesseract-ocr, tesseract-ocr-eng)'
  : !hasOcrB
    ? 'the OCR-B font is not installed (Debian fonts-ocr-b)'
    : false;

const esc = (s: string) => s.replace(/</g, '&lt;');

/** A data page: some printed text above, the MRZ in OCR-B near the bottom, as a JPEG. */
async function page(lines: readonly string[], rotate = 0): Promise<Buffer> {
  const width = lines[0].length === 30 ? 760 : 1100;
  const height = 700;
  const mrz = lines
    .map(
      (l, i) =>
        `<text x="40" y="${height - 40 - (lines.length - 1 - i) * 48}" font-family="OCR B" font-size="32" textLength="${width - 80}" lengthAdjust="spacing" xml:space="preserve">${esc(l)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#f2efe6"/>
<text x="40" y="80" font-family="DejaVu Sans" font-size="34">PASSPORT  PASSEPORT</text>
<text x="300" y="170" font-family="DejaVu Sans" font-size="22">Surname / Nom</text><text x="300" y="200" font-family="DejaVu Sans" font-size="26">SPECIMEN</text>
<text x="300" y="260" font-family="DejaVu Sans" font-size="22">Date of birth  12 AUG 74</text>
<rect x="40" y="130" width="220" height="280" fill="#c9c4b8"/>${mrz}</svg>`;
  return sharp(Buffer.from(svg)).rotate(rotate).jpeg({ quality: 90 }).toBuffer();
}

t.test('check digits (ICAO 9303 Part 3 examples)', async (t) => {
  t.equal(checkDigit('L898902C3'), '6');
  t.equal(checkDigit('740812'), '2');
  t.equal(checkDigit('120415'), '9');
  t.equal(checkDigit('AB2134<<<'), '5');
  t.equal(checkDigit('ab'), undefined, 'lower case is outside the MRZ alphabet');
});

t.test('checkAndRepair: good lines pass untouched, every format', async (t) => {
  const td3 = checkAndRepair(TD3);
  t.same(td3 && { format: td3.format, failed: td3.failed, repairs: td3.repairs }, { format: 'TD3', failed: [], repairs: [] });
  const td1 = checkAndRepair(TD1);
  t.same(td1 && { format: td1.format, failed: td1.failed, lines: td1.lines }, { format: 'TD1', failed: [], lines: TD1 });
});

t.test('checkAndRepair repairs a confused character only when the check digit confirms it', async (t) => {
  // Birth date 740812 read with a letter O for the zero: a date holds digits only, O->0 and the check holds.
  const dob = checkAndRepair([TD3[0], TD3[1].replace('7408122', '74O8122')]);
  t.same(dob?.failed, []);
  t.equal(dob?.lines[1], TD3[1], 'O read back as 0');
  t.same(dob?.repairs, [{ field: 'birthDate', line: 1, col: 15 }], 'the repair names the position, not the character');
  // Document number L898902C3 read as L8989O2C3: letters are allowed there, so only the check digit says it is a 0.
  const num = checkAndRepair([TD3[0], TD3[1].replace('L898902C3', 'L8989O2C3')]);
  t.same(num?.failed, []);
  t.equal(num?.lines[1], TD3[1]);
  // The composite check digit itself read as a letter O: only that digit may change, and the check confirms it.
  const comp = checkAndRepair([TD3[0], `${TD3[1].slice(0, 43)}O`]);
  t.same(comp?.failed, []);
  t.same(comp?.repairs, [{ field: 'composite', line: 1, col: 43 }]);
  const g = checkAndRepair([TD3[0], `${TD3[1].slice(0, 43)}G`]);
  t.same(g?.failed, ['composite'], 'G is not a confusion we repair: the composite fails');
});

t.test('checkAndRepair refuses what the check digits cannot confirm', async (t) => {
  // A wrong digit is no confusion: nothing to try, the field fails and the lines are left as read.
  const wrong = ['L898902C36UTO7408132F1204159ZE184226B<<<<<10'];
  const r = checkAndRepair([TD3[0], wrong[0]]);
  t.ok(r?.failed.includes('birthDate'), 'birth date fails');
  t.equal(r?.lines[1], wrong[0], 'nothing changed');
  // Several different swap sets (8/B, O/0, 2/Z) would each make this number check against a wrong
  // check digit: choosing one would be a guess, so the field is refused and left as read.
  const r2 = checkAndRepair([TD3[0], TD3[1].replace('L898902C36', 'L8989O2C37')]);
  t.ok(r2?.failed.includes('documentNumber'));
  t.equal(r2?.lines[1].slice(0, 10), 'L8989O2C37', 'left as read');
  // An invalid month is no date, whatever the check digit says.
  const month = checkAndRepair([TD3[0], 'L898902C36UTO7413120F1204159ZE184226B<<<<<10'.replace('7413120', `741312${checkDigit('741312')}`)]);
  t.ok(month?.failed.includes('birthDate'), 'month 13 fails');
});

t.test('candidate lines: filler runs collapsed or read as K by the OCR', async (t) => {
  const ocr = `junk line\n${TD3[0].replace('<<<<<<<<<<<<<<<<<<<', '<<<<<<<<KK<<<<<<<')}\n${TD3[1].replace('B<<<<<10', 'B<<<<10')}\n`;
  const groups = candidateLines(ocr);
  const best = groups.map((g) => checkAndRepair(g.lines)).find((r) => r && r.failed.length === 0);
  t.same(best?.lines, TD3, 'the filler run is regrown and the trailing K read as fillers');
  t.same(lineVariants('AB<<12', 8), ['AB<<12<<', 'AB<<<<12'], 'pad at the end, or grow the filler run');
});

t.test('readMrzFromImage on rendered pages (real tesseract)', { skip: NO_OCR }, async (t) => {
  const read = await readMrzFromImage(await page(TD3));
  // Tesseract's English model reads the O of UTO as a zero and a filler between names as K: neither
  // is covered by a check digit, so neither is repaired (and the access key does not depend on them).
  t.match(read.lines[1], /^L898902C36UT[O0]7408122F1204159ZE184226B<<<<<10$/, 'the data line read');
  t.match(read.lines[0], /^P<UT[O0]ERIKSSON<<ANNA[<K]K?MARIAK?<+$/, 'the name line read (fillers between names may be read as K)');
  t.same(read.failed, []);
  t.same(read.accessKey, {
    documentNumber: 'L898902C3',
    documentNumberCheckDigit: '6',
    birthDate: '740812',
    birthDateCheckDigit: '2',
    expiryDate: '120415',
    expiryDateCheckDigit: '9',
  });

  const upside = await readMrzFromImage(await page(TD3, 180));
  t.equal(upside.rotation, 180, 'an upside-down page is read turned');
  t.same(upside.accessKey, read.accessKey);

  const td1 = await readMrzFromImage(await page(TD1));
  t.equal(td1.format, 'TD1');
  t.same(td1.failed, []);
  t.equal(td1.accessKey?.documentNumber, 'D23145890');
});

t.test('readMrzFromImage repairs a printed confusion and refuses a wrong check digit', { skip: NO_OCR }, async (t) => {
  // The page itself carries a letter B for the 8 of the birth date: the OCR reads the B, the check digit confirms 8.
  // (A printed letter O in a date is read as a zero by the OCR already, so it would not exercise the repair.)
  const confused = await readMrzFromImage(await page([TD3[0], TD3[1].replace('7408122', '740B122')]));
  t.same(confused.failed, []);
  t.equal(confused.accessKey?.birthDate, '740812');
  t.same(confused.repairs, [{ field: 'birthDate', line: 1, col: 16 }], 'the repair is reported by position');

  // Birth date check digit printed wrong (3 for 2): no confusion explains it, so no key and the field is named.
  const bad = await readMrzFromImage(await page([TD3[0], TD3[1].replace('7408122F', '7408123F')]));
  t.ok(bad.failed.includes('birthDate'));
  t.equal(bad.accessKey, undefined);
  t.throws(() => requireAccessKey(bad), { code: 'E_DOC_MRZ', message: /birthDate/ });
  t.throws(() => requireAccessKey(bad), { message: /^(?!.*740812)/ }, 'the message never holds the value');
});

t.test('errors: no MRZ, corrupt image, tesseract missing', { skip: NO_OCR }, async (t) => {
  const blank = await sharp({ create: { width: 640, height: 400, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
  await rejectsWithCode(t, readMrzFromImage(blank), 'E_DOC_MRZ', 'no machine-readable zone');
  await rejectsWithCode(t, readMrzFromImage(Buffer.from('not an image at all')), 'E_IMAGE_CORRUPT');
  const jpeg = await page(TD3);
  await rejectsWithCode(t, readMrzFromImage(jpeg.subarray(0, 200)), 'E_IMAGE_CORRUPT');
  await rejectsWithCode(t, readMrzFromImage(jpeg, { tesseractPath: '/nonexistent/tesseract' }), 'E_DEVICE', 'tesseract-ocr');
  // A tesseract that hangs is killed at the time limit.
  const hang = join(ownTempDir(t, 'mrz-hang-'), 'tesseract');
  writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n', { mode: 0o700 });
  await rejectsWithCode(t, readMrzFromImage(jpeg, { tesseractPath: hang, timeoutMs: 300 }), 'E_TIMEOUT', 'tesseract took longer than 300 ms');
});

t.test('accessKeyFromImageFile: the key as --mrz would give it, for `document read --mrz-from`', { skip: NO_OCR }, async (t) => {
  const dir = ownTempDir(t, 'mrz-ocr-');
  const file = join(dir, 'page.jpg');
  writeFileSync(file, await page(TD3), { mode: 0o600 });
  const key = await accessKeyFromImageFile(file);
  t.equal(key.documentNumber, 'L898902C3');
  t.equal(key.expiryDateCheckDigit, '9');
  await rejectsWithCode(t, accessKeyFromImageFile(join(dir, 'none.jpg')), 'E_INPUT_NOT_FOUND');
});
