/**
 * The resident-ID text record: field widths, trimming, the GB 11643 (ISO 7064 MOD 11-2) check
 * character, dates; and that a refusal names the field, never its value. The card is made up
 * (region code 990000 is assigned to no place).
 */
import t from 'tap';
import { SAMPLE_CARD } from '../helpers/cn-id-fake-reader.js';
import { checkIdNumber, encodeTextRecord, idCheckCharacter, parseTextRecord, splitTextRecord, TEXT_BYTES } from '../../device/document/cn-id/text.js';

const ID17 = SAMPLE_CARD.idNumber.slice(0, 17);
const FIELDS = SAMPLE_CARD;

t.test('the check character: GB 11643 worked example and the made-up card', async (t) => {
  t.equal(idCheckCharacter('11010519491231002'), 'X', 'GB 11643 example 11010519491231002X');
  t.doesNotThrow(() => checkIdNumber('11010519491231002X'));
  t.equal(FIELDS.idNumber, '990000199003071235', 'made-up card');
  const wrong = `${ID17}${FIELDS.idNumber.endsWith('1') ? '2' : '1'}`;
  t.throws(() => checkIdNumber(wrong), { code: 'E_DEVICE', details: { reason: 'text_invalid', field: 'idNumber' } });
  t.throws(() => checkIdNumber('11010519491231002x'), { code: 'E_DEVICE' }, 'a lower-case x is not the check character');
  t.throws(() => checkIdNumber('1101051949123100'), { code: 'E_DEVICE' }, 'too short');
});

t.test('a record parses into trimmed, checked fields', async (t) => {
  const record = encodeTextRecord(FIELDS);
  t.equal(record.length, TEXT_BYTES);
  t.equal(record.subarray(0, 8).toString('utf16le'), '测试样例', 'UCS-2 little-endian, name first');
  t.equal(record.readUInt16LE(30), '2'.charCodeAt(0), 'gender at byte 30');
  t.equal(record.subarray(122, 158).toString('utf16le'), FIELDS.idNumber, 'ID number at bytes 122..157');
  t.equal(record.subarray(204, 220).toString('utf16le'), '20350101', 'valid until at bytes 204..219');
  const parsed = parseTextRecord(record);
  t.same(parsed, {
    name: '测试样例',
    gender: '2',
    nation: '01',
    birthDate: '1990-03-07',
    address: '测试省样例市示范路1号',
    idNumber: '990000199003071235',
    issuingAuthority: '样例市公安局',
    validFrom: '2015-01-01',
    validUntil: '2035-01-01',
  });
});

t.test('a long-term card (长期) has no end date', async (t) => {
  t.equal(parseTextRecord(encodeTextRecord({ ...FIELDS, validUntil: '长期' })).validUntil, 'long-term');
});

t.test('NUL padding is trimmed like spaces', async (t) => {
  const record = encodeTextRecord(FIELDS);
  record.fill(0, 8, 30); // the name's padding as NULs
  t.equal(splitTextRecord(record).name, '测试样例');
});

t.test('each bad field is refused by name, and the message holds no field value', async (t) => {
  const cases: Array<[Partial<typeof FIELDS>, string]> = [
    [{ idNumber: `${ID17}0` }, 'idNumber'],
    [{ idNumber: 'A'.repeat(18) }, 'idNumber'],
    [{ birthDate: '19900230' }, 'birthDate'],
    [{ birthDate: '19900308' }, 'birthDate'],
    [{ validFrom: '2015011' }, 'validFrom'],
    [{ validUntil: '20140101' }, 'validUntil'],
    [{ gender: 'M' }, 'gender'],
    [{ nation: '1' }, 'nation'],
    [{ name: '' }, 'name'],
  ];
  for (const [change, field] of cases) {
    const fields = { ...FIELDS, ...change };
    let err: unknown;
    try {
      parseTextRecord(encodeTextRecord(fields));
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'E_DEVICE', details: { reason: 'text_invalid', field } }, `${field} refused (${Object.keys(change).join()})`);
    const text = JSON.stringify({ message: (err as Error)?.message, details: (err as { details?: unknown })?.details });
    for (const value of Object.values(fields).filter((v) => v.length >= 2)) {
      t.notOk(text.includes(value), `the error does not contain ${field === 'name' ? 'a field' : 'the value of a field'}`, { diagnostic: false });
    }
  }
  t.throws(() => parseTextRecord(Buffer.alloc(255)), { code: 'E_DEVICE', details: { field: 'record' } }, 'a record of the wrong size');
});
