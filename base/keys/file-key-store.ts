import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KioskError } from '../errors.js';
import { keyDestroyedError, type KeyStore } from './key-store.js';

/** Options of {@link FileKeyStore}. */
export interface FileKeyStoreOptions {
  /** PKCS#8 PEM file of the key; created with mode 0600 when missing. */
  path: string;
  /** Create the key when the file does not exist (default true); false makes a missing key an error. */
  create?: boolean;
}

/**
 * A P-256 key in a PEM file readable only by the agent's user. Written atomically (temp file with
 * mode 0600, fsync, rename, fsync of the directory), so a power cut leaves either no key or the whole
 * key. A key file readable by group or others is refused rather than used.
 */
export class FileKeyStore implements KeyStore {
  readonly kind = 'file' as const;
  private key?: KeyObject;
  private spki?: Uint8Array;
  private destroyed = false;

  constructor(private readonly options: FileKeyStoreOptions) {}

  async start(): Promise<void> {
    const { path } = this.options;
    if (this.destroyed) throw keyDestroyedError(path);
    let pem: Buffer;
    try {
      const st = await stat(path);
      if ((st.mode & 0o077) !== 0) {
        throw new KioskError('E_KEY_STORE', `key file is readable by others (mode ${(st.mode & 0o777).toString(8)}); expected 0600`, { subject: path });
      }
      pem = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toKeyError(err, path);
      if (this.options.create === false) throw new KioskError('E_KEY_STORE', 'key file does not exist', { subject: path });
      pem = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
      await writeFileAtomic(path, pem, 0o600);
    }
    try {
      this.key = createPrivateKey({ key: pem, format: 'pem' });
    } catch (err) {
      throw new KioskError('E_KEY_STORE', 'key file is not a PEM private key', { subject: path, cause: err });
    } finally {
      // Only the KeyObject keeps the key; this copy of the PEM is wiped now rather than left to the GC.
      pem.fill(0);
    }
    const details = this.key.asymmetricKeyDetails;
    if (this.key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      throw new KioskError('E_KEY_STORE', 'key file does not hold a P-256 key', { subject: path });
    }
    this.spki = createPublicKey(this.key).export({ format: 'der', type: 'spki' });
  }

  async stop(): Promise<void> {
    this.key = undefined;
  }

  publicKeySpki(): Uint8Array {
    if (!this.spki) throw new KioskError('E_KEY_STORE', 'key store not started', { subject: this.options.path });
    return this.spki;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    if (this.destroyed) throw keyDestroyedError(this.options.path);
    if (!this.key) throw new KioskError('E_KEY_STORE', 'key store not started', { subject: this.options.path });
    return nodeSign('sha256', data, { key: this.key, dsaEncoding: 'ieee-p1363' });
  }

  /**
   * Drops the key from this store, overwrites the file with zeros (best effort: flash wear levelling
   * and journals may keep copies), syncs and deletes it. A file already gone is fine.
   */
  async destroy(): Promise<string> {
    const { path } = this.options;
    this.destroyed = true;
    this.key = undefined;
    try {
      const fh = await open(path, 'r+');
      try {
        const { size } = await fh.stat();
        await fh.write(Buffer.alloc(size), 0, size, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(path);
      await syncDir(dirname(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new KioskError('E_KEY_STORE', `could not destroy the key file: ${(err as Error).message}`, { subject: path, cause: err });
    }
    return path;
  }
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Writes `content` to `path` so that readers see the old file or the complete new one, never a part. */
export async function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await syncDir(dir);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new KioskError('E_STORAGE', `could not write file: ${(err as Error).message}`, { subject: path, cause: err });
  }
}

function toKeyError(err: unknown, path: string): KioskError {
  if (err instanceof KioskError) return err;
  return new KioskError('E_KEY_STORE', `cannot read key file: ${(err as Error).message}`, { subject: path, cause: err });
}
