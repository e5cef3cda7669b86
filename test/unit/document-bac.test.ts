/**
 * Known answers from ICAO Doc 9303 Part 11, Appendix D (worked example of BAC and secure messaging:
 * document L898902C<, born 1969-08-06, expiring 1994-06-23).
 */
import t from 'tap';
import { bacChallenge, bacKeys, bacSession } from '../../device/document/bac.js';
import { SecureMessaging3Des } from '../../device/document/secure-messaging.js';
import { mrzInformation, parseMrz } from '../../device/document/mrz.js';
import { pad, retailMac, unpad } from '../../device/document/des.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const up = (b: Buffer) => b.toString('hex').toUpperCase();

t.test('key derivation from the MRZ information (D.2)', async (t) => {
  const k = bacKeys('L898902C<369080619406236');
  t.equal(up(k.kSeed), '239AB9CB282DAF66231DC5A4DF6BFBAE', 'Kseed');
  t.equal(up(k.kEnc), 'AB94FDECF2674FDFB9B391F85D7F76F2', 'Kenc');
  t.equal(up(k.kMac), '7962D9ECE03D1ACD4C76089DCE131543', 'Kmac');
});

t.test('mutual authentication and session keys (D.3)', async (t) => {
  const keys = bacKeys('L898902C<369080619406236');
  const c = bacChallenge(keys, hex('4608F91988702212'), { rndIfd: hex('781723860C06C226'), kIfd: hex('0B795240CB7049B01C19B33E32804F0B') });
  t.equal(up(c.commandData), '72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2' + '5F1448EEA8AD90A7', 'E.IFD || M.IFD');
  const response = hex('46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449');
  const s = bacSession(keys, c, response);
  t.equal(up(s.kEnc), '979EC13B1CBFE9DCD01AB0FED307EAE5', 'KSenc');
  t.equal(up(s.kMac), 'F1CB1F1FB5ADF208806B89DC579DC1F8', 'KSmac');
  t.equal(up(s.ssc), '887022120C06C226', 'SSC');
  const tampered = Buffer.from(response);
  tampered[39] ^= 1;
  t.throws(() => bacSession(keys, c, tampered), { code: 'E_DOC_ACCESS' }, "a card's answer with a wrong MAC");
  t.throws(() => bacSession(bacKeys('L898902C<369080619406237'), c, response), { code: 'E_DOC_ACCESS' }, 'keys from another MRZ');
});

t.test('secure messaging: SELECT EF.COM and READ BINARY (D.4)', async (t) => {
  const sm = new SecureMessaging3Des({
    kEnc: hex('979EC13B1CBFE9DCD01AB0FED307EAE5'),
    kMac: hex('F1CB1F1FB5ADF208806B89DC579DC1F8'),
    ssc: hex('887022120C06C226'),
  });
  t.equal(
    up(sm.wrap({ cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: hex('011E') })),
    '0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800',
    'protected SELECT',
  );
  t.same(sm.unwrap(hex('990290008E08FA855A5D4C50A8ED9000')), { data: Buffer.alloc(0), sw: 0x9000 }, 'its response verifies');
  t.equal(up(sm.wrap({ cla: 0x00, ins: 0xb0, p1: 0x00, p2: 0x00, le: 4 })), '0CB000000D9701048E08ED6705417E96BA5500', 'protected READ BINARY');
  t.same(sm.unwrap(hex('8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000')), { data: hex('60145F01'), sw: 0x9000 }, 'the first bytes of EF.COM');
  t.equal(up(sm.counter), '887022120C06C22A', 'the counter went up once per command and response');
});

t.test('a response with a wrong MAC or none is refused', async (t) => {
  const fresh = () =>
    new SecureMessaging3Des({ kEnc: hex('979EC13B1CBFE9DCD01AB0FED307EAE5'), kMac: hex('F1CB1F1FB5ADF208806B89DC579DC1F8'), ssc: hex('887022120C06C226') });
  const sm = fresh();
  sm.wrap({ cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: hex('011E') });
  t.throws(() => sm.unwrap(hex('990290008E08FA855A5D4C50A8EE9000')), { code: 'E_DOC_SM' }, 'one bit off');
  const other = fresh();
  other.wrap({ cla: 0x00, ins: 0xa4, p1: 0x02, p2: 0x0c, data: hex('011E') });
  t.throws(() => other.unwrap(hex('99029000' + '9000')), { code: 'E_DOC_SM' }, 'no MAC on a successful response');
  t.throws(() => other.unwrap(hex('8709019FF0EC34F99226519000')), { code: 'E_DOC_SM' }, 'data without a MAC');
});

t.test('padding and the retail MAC', async (t) => {
  t.equal(up(pad(hex('011E'))), '011E800000000000');
  t.equal(up(pad(hex('0000000000000000'))), '00000000000000008000000000000000', 'a full block gets a whole padding block');
  t.same(unpad(hex('60145F0180000000')), hex('60145F01'));
  t.equal(unpad(hex('60145F0100000000')), undefined, 'no padding marker');
  // The MAC over the response of D.4's SELECT: SSC || DO'99'.
  t.equal(up(retailMac(hex('F1CB1F1FB5ADF208806B89DC579DC1F8'), hex('887022120C06C228990290 00'))), 'FA855A5D4C50A8ED');
});

t.test('the MRZ: parsed with its check digits, the access key made from it', async (t) => {
  // ICAO's TD3 specimen (Doc 9303 Part 4): issuing state UTO (Utopia) is not a real state code.
  const mrz = parseMrz(['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10']);
  t.equal(mrz.format, 'TD3');
  t.equal(mrzInformation(mrz.accessKey), 'L898902C3674081221204159', 'document number, birth and expiry with their check digits');
  t.ok(mrz.invalid.includes('issuingState'), 'the unknown state is reported, not fatal');
  t.throws(
    () => parseMrz(['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408123F1204159ZE184226B<<<<<10']),
    { code: 'E_DOC_MRZ' },
    'a birth date that does not check',
  );
  t.throws(() => parseMrz(['not an mrz']), { code: 'E_DOC_MRZ' });
});
