/**
 * The kiosk side of enrolment and renewal over MQTT 5: connect (with the claim certificate, or the
 * current device certificate), subscribe to a fresh reply topic, publish the CSR with that response
 * topic and random correlation data, wait for the matching answer, and check the certificate it
 * carries (issued by the carrier CA, a device certificate, CN = this device, for this key) before
 * anything is installed. Installing is {@link installCertificate}'s job (renewal.ts).
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import mqtt, { type IClientOptions } from 'mqtt';
import { KioskError } from '../../base/errors.js';
import { tlsIdentity, type TlsPrivateKey } from '../../protocol/endpoint.js';
import { certificateProfile } from '../../protocol/names.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { certificateMatchesKey, commonName, createCsr, parseCertificate, type x509 } from '../../base/keys/x509.js';
import { csrDigest, enrolTopics, RENEW_POP_TYP, type EnrolReply, type RenewPopClaims } from '../../protocol/enrol.js';
import { signCompact } from '../../protocol/jws.js';
import { MemoryKeyStore } from '../../base/keys/memory-key-store.js';

/** How to reach the broker. */
export interface BrokerConnection {
  url: string;
  /** PEM of the carrier CA (the broker's certificate must chain to it). */
  ca: string | Buffer;
  /** PEM certificate this connection authenticates with, and its key (PEM, or in a PKCS#11 token). */
  cert: string | Buffer;
  key: TlsPrivateKey;
  prefix?: string;
  /** Give up after this long without an answer (default 15000 ms). */
  timeoutMs?: number;
  /** MQTT client id (default: derived from the device id, unique per request). */
  clientId?: string;
}

/** Enrolment by claim: the claim identity's connection, the device id, the key to certify. */
export interface EnrolOptions extends BrokerConnection {
  deviceId: string;
  keyStore: KeyStore;
  /** One-time enrolment token, when the carrier's policy asks for one. */
  token?: string;
}

/**
 * A request/response round trip over a connection that is already open (the daemon's transport):
 * resolves with the answer's payload.
 */
export interface RequestChannel {
  request(topic: string, body: string, replyPrefix: string, timeoutMs: number): Promise<Buffer>;
}

/** Renewal: the device's current connection and the key to certify (the current one or a new one). */
export interface RenewOptions extends BrokerConnection {
  deviceId: string;
  keyStore: KeyStore;
  /**
   * The current key (of `cert`), which signs the proof of possession. Default: `keyStore` when `cert`
   * is its certificate (same-key renewal), else the PEM `key` (renewal onto a new key).
   */
  currentKey?: KeyStore;
  /** The clock that dates the proof of possession (default the system clock). */
  clock?: () => Date;
  /**
   * The running daemon's own connection. The broker ties the client id to the certificate, so a
   * second connection with the device certificate would throw the daemon's off: a daemon renews
   * through its transport; only a kiosk with no daemon running opens a connection of its own.
   */
  channel?: RequestChannel;
}

/** Asks the carrier for a device certificate with the claim certificate; returns it checked. */
export async function enrolOverMqtt(o: EnrolOptions): Promise<x509.X509Certificate> {
  const t = enrolTopics(o.prefix);
  const csr = await createCsr(o.keyStore, o.deviceId);
  const body = { v: 1, device_id: o.deviceId, csr, ...(o.token ? { token: o.token } : {}) };
  const reply = await request(o, t.request, t.replyPrefix, body, `enrol-${o.deviceId}`);
  return acceptCertificate(reply, o);
}

/**
 * Asks the carrier, as the device itself, for a new certificate for `keyStore`'s key; the request
 * carries a proof of possession of the current key (see protocol/enrol.ts).
 */
export async function renewOverMqtt(o: RenewOptions): Promise<x509.X509Certificate> {
  const t = enrolTopics(o.prefix);
  const csr = await createCsr(o.keyStore, o.deviceId);
  const body = { v: 1, csr, pop: await renewalProof(o, csr) };
  const reply = o.channel
    ? parseReply(await o.channel.request(t.renew(o.deviceId), JSON.stringify(body), t.renewReplyPrefix(o.deviceId), o.timeoutMs ?? 15_000), t.renew(o.deviceId))
    : await request(o, t.renew(o.deviceId), t.renewReplyPrefix(o.deviceId), body, `${o.deviceId}-renew`);
  return acceptCertificate(reply, o);
}

/** The proof of possession for a renewal request: the current key signs the device id and the CSR's hash. */
export async function renewalProof(o: RenewOptions, csr: string): Promise<string> {
  const current = parseCertificate(o.cert.toString(), 'current device certificate');
  const { store, owned } = await currentKeyStore(o, current);
  try {
    if (!certificateMatchesKey(current, store))
      throw new KioskError('E_KEY_STORE', 'the current key is not the key of the current certificate: cannot prove possession', { subject: o.deviceId });
    const iat = Math.floor((o.clock?.() ?? new Date()).getTime() / 1000);
    const header = { alg: 'ES256' as const, typ: RENEW_POP_TYP, x5c: [Buffer.from(current.rawData).toString('base64')] };
    const claims: RenewPopClaims = { sub: o.deviceId, csr_sha256: csrDigest(csr), iat };
    return await signCompact(store, header, claims);
  } finally {
    if (owned) await store.stop();
  }
}

/** The store of the current key: given, the renewed key store itself, or one made from the PEM key. */
async function currentKeyStore(o: RenewOptions, current: x509.X509Certificate): Promise<{ store: KeyStore; owned: boolean }> {
  if (o.currentKey) return { store: o.currentKey, owned: false };
  if (certificateMatchesKey(current, o.keyStore)) return { store: o.keyStore, owned: false };
  if (typeof o.key !== 'string' && !Buffer.isBuffer(o.key))
    throw new KioskError('E_USAGE', 'renewing onto a new key with a token key: pass the current key store (currentKey)', { subject: o.deviceId });
  let key: KeyObject;
  try {
    key = createPrivateKey(o.key);
  } catch (err) {
    throw new KioskError('E_KEY_STORE', 'the current device key does not parse', { subject: o.deviceId, cause: err });
  }
  const store = new MemoryKeyStore({ key });
  await store.start();
  return { store, owned: true };
}

/** Checks an issued certificate against what was asked for; E_CERTIFICATE names the first mismatch. */
export async function checkIssuedCertificate(
  pem: string,
  o: { ca: string | Buffer; deviceId: string; keyStore: KeyStore; now?: Date },
): Promise<x509.X509Certificate> {
  const cert = parseCertificate(pem, 'issued certificate');
  const ca = parseCertificate(o.ca.toString(), 'carrier CA');
  const bad = (why: string) => new KioskError('E_CERTIFICATE', `issued certificate refused: ${why}`, { subject: o.deviceId });
  if (cert.issuer !== ca.subject || !(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false)))
    throw bad('not signed by the carrier CA');
  if (commonName(cert) !== o.deviceId) throw bad(`it names ${String(commonName(cert))}`);
  if (certificateProfile(cert) !== 'device') throw bad('not a device certificate');
  if (!certificateMatchesKey(cert, o.keyStore)) throw bad('it is not for this key');
  const now = o.now ?? new Date();
  if (now < cert.notBefore || now > cert.notAfter) throw bad('not valid now');
  return cert;
}

async function acceptCertificate(reply: EnrolReply, o: EnrolOptions | RenewOptions): Promise<x509.X509Certificate> {
  if (!reply.ok) {
    const code = reply.code === 'E_NOT_AUTHORIZED' ? 'E_NOT_AUTHORIZED' : 'E_CERTIFICATE';
    throw new KioskError(code, `the carrier refused: ${reply.reason}: ${reply.detail}`, { subject: o.deviceId, details: { reason: reply.reason } });
  }
  return checkIssuedCertificate(reply.certificate, o);
}

function parseReply(payload: Buffer, topic: string): EnrolReply {
  try {
    return JSON.parse(payload.toString('utf8')) as EnrolReply;
  } catch (err) {
    throw new KioskError('E_TRANSPORT', 'the carrier answered with something that is not JSON', { subject: topic, cause: err });
  }
}

/** One MQTT 5 request/response round trip on a short-lived connection. */
async function request(c: BrokerConnection, topic: string, replyPrefix: string, body: unknown, clientBase: string): Promise<EnrolReply> {
  const responseTopic = replyPrefix + randomBytes(16).toString('base64url');
  const correlationData = randomBytes(16);
  // Before the try below: a key that cannot be used now (E_KEY_STORE, E_TLS_ENGINE) keeps its code.
  const opts: IClientOptions = {
    protocolVersion: 5,
    clientId: c.clientId ?? `${clientBase}-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: c.timeoutMs ?? 15_000,
    ...tlsIdentity(c),
    rejectUnauthorized: true,
  };
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(c.url, opts);
  } catch (err) {
    throw new KioskError('E_TRANSPORT', `cannot connect to the broker: ${(err as Error).message}`, { subject: c.url, cause: err });
  }
  try {
    const answer = new Promise<EnrolReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new KioskError('E_TRANSPORT', `no answer from the carrier within ${c.timeoutMs ?? 15_000} ms`, { subject: topic })),
        c.timeoutMs ?? 15_000,
      );
      client.on('message', (t, payload, packet) => {
        if (t !== responseTopic || !packet.properties?.correlationData || !Buffer.from(packet.properties.correlationData).equals(correlationData)) return;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(payload.toString('utf8')) as EnrolReply);
        } catch (err) {
          reject(new KioskError('E_TRANSPORT', 'the carrier answered with something that is not JSON', { subject: topic, cause: err }));
        }
      });
      // PUBACK 0x10: no enrolment service is subscribed; waiting for an answer would be in vain.
      client.on('packetreceive', (packet) => {
        if (packet.cmd === 'puback' && packet.reasonCode === 0x10) {
          clearTimeout(timer);
          reject(new KioskError('E_TRANSPORT', 'no carrier service is listening for this request (PUBACK 0x10)', { subject: topic }));
        }
      });
      client.once('close', () => {
        clearTimeout(timer);
        reject(new KioskError('E_TRANSPORT', 'the broker closed the connection before the answer', { subject: topic }));
      });
    });
    answer.catch(() => undefined);
    const granted = await client.subscribeAsync(responseTopic, { qos: 1 }).then(
      (g) => g[0]?.qos,
      (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? 0x80,
    );
    if (granted === undefined || granted > 2)
      throw new KioskError('E_NOT_AUTHORIZED', `the broker refused the reply subscription (SUBACK ${granted})`, {
        subject: responseTopic,
        details: { reasonCode: granted },
      });
    try {
      await client.publishAsync(topic, JSON.stringify(body), { qos: 1, properties: { responseTopic, correlationData, contentType: 'application/json' } });
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new KioskError(code === 0x87 ? 'E_NOT_AUTHORIZED' : 'E_TRANSPORT', `the broker refused the request: ${(err as Error).message}`, {
        subject: topic,
        cause: err,
        details: { reasonCode: code },
      });
    }
    return await answer;
  } finally {
    client.removeAllListeners('close');
    await client.endAsync(true).catch(() => undefined);
  }
}
