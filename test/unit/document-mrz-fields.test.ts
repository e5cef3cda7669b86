/**
 * The chip's access key from typed (or corrected) fields: ICAO 9303 check digits (7-3-1), the
 * document number padded to 9, dates that exist; a bad field is named, never its value.
 */
import t from 'tap';
import { isKioskError } from '../../base/errors.js';
import { accessKeyFromFields, mrzCheckDigit, mrzInformation, parseMrz } from '../../device/document/mrz.js';

t.test('the ICAO Doc 9303 specimen (Part 4, TD3: L898902C3 / 740812 / 120415)', async (t) => {
  const key = accessKeyFromFields({ documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' });
  t.same(key, {
    documentNumber: 'L898902C3',
    documentNumberCheckDigit: '6',
    birthDate: '740812',
    birthDateCheckDigit: '2',
    expiryDate: '120415',
    expiryDateCheckDigit: '9',
  });
  // The same key as the MRZ lines of the specimen give.
  const parsed = parseMrz(['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10']);
  t.same(key, parsed.accessKey, 'equal to the key parsed from the specimen MRZ');
});

t.test('a short number is padded with fillers (Part 11 Appendix D: L898902C< 690806 940623)', async (t) => {
  const key = accessKeyFromFields({ documentNumber: 'L898902C', birthDate: '690806', expiryDate: '940623' });
  t.equal(mrzInformation(key), 'L898902C<369080619406236', 'the MRZ information of the worked BAC example');
  t.same(accessKeyFromFields({ documentNumber: 'L898902C<', birthDate: '690806', expiryDate: '940623' }), key, 'typed fillers are the same number');
  t.equal(accessKeyFromFields({ documentNumber: 'A', birthDate: '000229', expiryDate: '301231' }).documentNumber, 'A<<<<<<<<', 'one character');
});

t.test('check digits: digits, letters and fillers', async (t) => {
  t.equal(mrzCheckDigit('520727'), '3', 'a date');
  t.equal(mrzCheckDigit('D23145890'), '7', 'TD1 specimen number');
  t.equal(mrzCheckDigit('<<<<<<<<<'), '0', 'fillers count 0');
  t.equal(mrzCheckDigit('AB2134<<<'), '5');
  t.throws(() => mrzCheckDigit('ab'), { code: 'E_DOC_MRZ' }, 'outside the alphabet');
});

t.test('invalid fields are named, their values are not', async (t) => {
  const good = { documentNumber: 'L898902C3', birthDate: '740812', expiryDate: '120415' };
  const cases: Array<[Partial<Record<keyof typeof good, unknown>>, string[]]> = [
    [{ documentNumber: '' }, ['documentNumber']],
    [{ documentNumber: 'L898902C34' }, ['documentNumber']],
    [{ documentNumber: 'l898902c3' }, ['documentNumber']],
    [{ documentNumber: 'L8989-02' }, ['documentNumber']],
    [{ documentNumber: '<<<<' }, ['documentNumber']],
    [{ documentNumber: 'L89<8902' }, ['documentNumber']],
    [{ documentNumber: 898902 }, ['documentNumber']],
    [{ birthDate: '741312' }, ['birthDate']],
    [{ birthDate: '740800' }, ['birthDate']],
    [{ birthDate: '740231' }, ['birthDate']],
    [{ birthDate: '730229' }, ['birthDate']],
    [{ birthDate: '74081' }, ['birthDate']],
    [{ birthDate: '74O812' }, ['birthDate']],
    [{ expiryDate: '120431' }, ['expiryDate']],
    [{ expiryDate: '1204150' }, ['expiryDate']],
    [{ expiryDate: undefined }, ['expiryDate']],
    [{ documentNumber: 'L898/02C3', birthDate: '999999', expiryDate: '000000' }, ['documentNumber', 'birthDate', 'expiryDate']],
  ];
  for (const [change, fields] of cases) {
    const input = { ...good, ...change } as typeof good;
    let err: unknown;
    try {
      accessKeyFromFields(input);
    } catch (e) {
      err = e;
    }
    t.ok(isKioskError(err, 'E_DOC_MRZ'), `E_DOC_MRZ for ${fields.join(', ')} (${JSON.stringify(Object.keys(change))})`);
    if (!isKioskError(err)) continue;
    t.same(err.details, { fields }, 'names the fields');
    for (const v of Object.values(change)) if (typeof v === 'string' && v.length > 2) t.notOk(err.message.includes(v), 'the value is not in the message');
    t.notOk(JSON.stringify(err.toJSON()).includes('740812'), 'nor any other field value');
  }
  t.ok(accessKeyFromFields({ ...good, birthDate: '000229' }), 'February 29 of a leap year exists');
});
