import t from 'tap';
import { randomBytes } from 'node:crypto';
import { passiveAuthentication } from '../../device/document/passive-auth.js';
import { makeSod, makeState } from '../helpers/emrtd-sod.js';

const dg1 = Buffer.concat([Buffer.from([0x61, 0x5b, 0x5f, 0x1f, 0x58]), Buffer.alloc(88, 0x3c)]);
const dg2 = Buffer.concat([Buffer.from([0x75, 0x82, 0x0b, 0xb8]), randomBytes(3000)]);
const groups = new Map([
  [1, dg1],
  [2, dg2],
]);
const state = await makeState('UTO');
const sod = await makeSod(state, groups);

t.test('the SOD verifies with its DS, the DS chains to the trusted CSCA, every data group read matches', async (t) => {
  const r = await passiveAuthentication(sod, groups, { cscas: [state.csca] });
  t.same(r.verified, [1, 2]);
  t.equal(r.hashAlgorithm, 'sha256');
  t.equal(r.csca.subject, state.csca.subject);
});

t.test('each tampering is refused with its reason', async (t) => {
  const reason = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: { code?: string; details?: { reason?: string } }) => `${e.code}:${e.details?.reason}`,
    );
  const tamperedDg2 = Buffer.from(dg2);
  tamperedDg2[100] ^= 1;
  t.equal(
    await reason(
      passiveAuthentication(
        sod,
        new Map([
          [1, dg1],
          [2, tamperedDg2],
        ]),
        { cscas: [state.csca] },
      ),
    ),
    'E_DOC_PASSIVE_AUTH:dg_hash_mismatch',
    'a portrait swapped on the chip',
  );
  t.equal(
    await reason(passiveAuthentication(sod, new Map([[3, dg1]]), { cscas: [state.csca] })),
    'E_DOC_PASSIVE_AUTH:dg_not_in_sod',
    'a data group the SOD does not cover',
  );
  const other = await makeState('XXA');
  t.equal(await reason(passiveAuthentication(sod, groups, { cscas: [other.csca] })), 'E_DOC_PASSIVE_AUTH:untrusted_csca', 'a CSCA the carrier does not trust');
  // A forger's state with the same CSCA name: its DS is not signed by the trusted CSCA's key.
  const forger = await makeState('UTO');
  t.equal(
    await reason(passiveAuthentication(await makeSod(forger, groups), groups, { cscas: [state.csca] })),
    'E_DOC_PASSIVE_AUTH:csca_signature',
    'a look-alike CSCA',
  );
  const flipped = Buffer.from(sod);
  flipped[flipped.length - 5] ^= 1; // inside the signature value, the last element of the SignerInfo
  t.equal(
    await reason(passiveAuthentication(flipped, groups, { cscas: [state.csca] })),
    'E_DOC_PASSIVE_AUTH:ds_signature',
    'a SOD whose signature was altered',
  );
  const expired = await makeState('UTO', { dsValidFrom: new Date(Date.now() - 3 * 365 * 86_400_000), dsValidTo: new Date(Date.now() - 86_400_000) });
  t.equal(
    await reason(passiveAuthentication(await makeSod(expired, groups), groups, { cscas: [expired.csca] })),
    'E_DOC_PASSIVE_AUTH:expired',
    'an expired Document Signer',
  );
  t.equal(await reason(passiveAuthentication(Buffer.from('7703010203', 'hex'), groups, { cscas: [state.csca] })), 'E_DOC_PASSIVE_AUTH:malformed', 'not a SOD');
});
