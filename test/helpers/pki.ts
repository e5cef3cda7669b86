import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CarrierCa } from '../../carrier/ca.js';
import type { CertProfile } from '../../protocol/names.js';
import { FileKeyStore } from '../../base/keys/file-key-store.js';
import type { KeyStore } from '../../base/keys/key-store.js';
import { createCsr, type x509 } from '../../base/keys/x509.js';

/** One issued identity: key (file, mode 0600), certificate, and their paths. */
export interface TestIdentity {
  cn: string;
  keyStore: KeyStore;
  certificate: x509.X509Certificate;
  keyPath: string;
  certPath: string;
}

/** A carrier CA in `dir` that issues test identities through the real CSR path. */
export class TestPki {
  constructor(
    readonly dir: string,
    readonly ca: CarrierCa,
  ) {}

  static async create(dir: string): Promise<TestPki> {
    return new TestPki(dir, await CarrierCa.init(join(dir, 'ca')));
  }

  get caPath(): string {
    return join(this.dir, 'ca', 'ca.crt');
  }

  /** Key + CSR + certificate for `cn` under `profile`; validity and issue time adjustable. */
  async issue(cn: string, profile: CertProfile = 'device', opts: { validityDays?: number; now?: Date; keyStore?: KeyStore } = {}): Promise<TestIdentity> {
    const keyPath = join(this.dir, `${cn}.key`);
    const keyStore = opts.keyStore ?? new FileKeyStore({ path: keyPath });
    await keyStore.start();
    const certificate = await this.ca.signCsr(await createCsr(keyStore, cn), { profile, validityDays: opts.validityDays, now: opts.now });
    const certPath = join(this.dir, `${cn}.crt`);
    await writeFile(certPath, certificate.toString('pem'));
    return { cn, keyStore, certificate, keyPath, certPath };
  }
}

/** A stand-in for the session module's derivePlan: deterministic in the nonce. */
export function stubPlan(nonce: string): string[] {
  const moves = ['blink', 'left', 'right', 'up', 'smile'];
  return [0, 2, 4].map((i) => moves[parseInt(nonce.slice(i, i + 2), 16) % moves.length]);
}

/** The matching plan check for {@link stubPlan}. */
export function stubPlanCheck(nonce: string, plan: unknown): boolean {
  return JSON.stringify(plan) === JSON.stringify(stubPlan(nonce));
}
