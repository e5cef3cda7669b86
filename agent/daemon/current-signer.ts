/**
 * The device's result signer as the daemon uses it: built at start from the certificate and the
 * loaded models (their hashes are the token's measurements), replaced when the certificate is
 * renewed. Sessions and remote assistance hold this object, never a particular ResultSigner.
 */
import { KioskError } from '../../base/errors.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { commonName, type x509 } from '../../base/keys/x509.js';
import type { Logger } from '../../base/log.js';
import { agentVersion } from '../../base/paths.js';
import type { EngineInfo } from '../../models/engine.js';
import type { BiometricFree, Measurement } from '../../protocol/eat.js';
import { processDebugStatus, ResultSigner, type SignedResult } from '../../provisioning/result-signer.js';

export interface CurrentSignerDeps {
  keyStore: KeyStore;
  certificate: x509.X509Certificate;
  /** The started engine: its model hashes go into every token. */
  engine: { info(): EngineInfo };
  deviceId: string;
  /** The carrier the results are for (`aud`, config `transport.audience`). */
  audience: string;
  /** With a broker the certificate must name `deviceId` (the carrier checks `sub` against it). */
  strictDeviceId: boolean;
  logger: Logger;
}

export class CurrentSigner {
  private signer?: ResultSigner;
  private measurements: Measurement[] = [];
  private current: x509.X509Certificate;

  constructor(private readonly deps: CurrentSignerDeps) {
    this.current = deps.certificate;
  }

  /** Checks the certificate against `deviceId` and records the measurements (after the engine started). */
  start(): void {
    const { deviceId } = this.deps;
    const cn = commonName(this.current);
    if (cn !== deviceId) {
      if (this.deps.strictDeviceId)
        throw new KioskError('E_CONFIG_INVALID', `the device certificate names ${cn}, the config deviceId is ${deviceId}`, { subject: 'deviceId' });
      this.deps.logger.warn({ cn, deviceId }, 'the certificate CN differs from deviceId');
    }
    this.measurements = [{ id: 'kiosk-agent', version: agentVersion() }, ...this.deps.engine.info().models.map((m) => ({ id: m.id, sha256: m.sha256 }))];
    this.use(this.current);
  }

  /** Signs with `certificate` from now on (a renewed one). */
  use(certificate: x509.X509Certificate): void {
    this.current = certificate;
    this.signer = new ResultSigner({
      keyStore: this.deps.keyStore,
      certificate,
      measurements: this.measurements,
      audience: this.deps.audience,
      dbgstat: processDebugStatus,
    });
  }

  /** The certificate results are signed with. */
  get certificate(): x509.X509Certificate {
    return this.current;
  }

  async sign<R extends { verdict: string }>(nonce: string, result: BiometricFree<R>): Promise<SignedResult<R>> {
    if (!this.signer) throw new KioskError('E_CERTIFICATE', 'results cannot be signed before the daemon has started', { subject: 'signer' });
    return this.signer.sign<R>(nonce, result);
  }
}
