/**
 * One file of a release over HTTP(S), resumable: bytes go to `<dest>.part`, a later call continues
 * from its length with a `Range` request (a kiosk that crashed, lost power or was OOM-killed does not
 * start a 300 MB model over), and the file is renamed to `dest` only once its size and sha256 match
 * the signed manifest. A partial file is therefore never visible under its real name.
 *
 * Errors: E_UPDATE_DOWNLOAD (details.reason, details.status) for HTTP and transfer failures, the
 * `.part` kept for the next attempt unless it cannot be good (a body longer than the manifest says);
 * E_UPDATE_HASH when the complete file does not hash to the manifest's sha256 (the `.part` removed);
 * E_ABORTED when `signal` aborts (the `.part` kept).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KioskError } from '../../base/errors.js';
import { fsyncDir } from './fs-durable.js';

/** What to fetch and what it must be. */
export interface DownloadRequest {
  url: string;
  /** Final path; `<dest>.part` holds the bytes until they verify. */
  dest: string;
  /** Expected sha256, lowercase hex (from the verified manifest). */
  sha256: string;
  /** Expected size, bytes; a longer body is cut and refused. */
  size: number;
  signal?: AbortSignal;
  /** Called as bytes arrive: bytes of the file present so far, and its total size. */
  onProgress?: (bytes: number, total: number) => void;
  /** The fetch to use (default the global one); injected by tests that need a custom agent. */
  fetch?: typeof fetch;
}

/** What a download did. */
export interface DownloadOutcome {
  /** Bytes of the `.part` that were kept from an earlier attempt. */
  resumedFrom: number;
  /** Bytes received over the network in this call. */
  transferred: number;
  /** True when the server ignored Range and the file was fetched from its start again. */
  restarted: boolean;
  /** True when `dest` was already there with the right content (nothing fetched). */
  alreadyPresent: boolean;
}

/** Downloads `req.url` to `req.dest`, resuming a `.part` left by an earlier attempt. */
export async function downloadFile(req: DownloadRequest): Promise<DownloadOutcome> {
  const subject = req.dest;
  if (await hasContent(req.dest, req.size, req.sha256)) return { resumedFrom: 0, transferred: 0, restarted: false, alreadyPresent: true };
  const part = `${req.dest}.part`;
  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (offset > req.size) {
    await rm(part, { force: true });
    offset = 0;
  }
  const hash = createHash('sha256');
  if (offset > 0) await hashFile(part, hash);
  if (offset === req.size) return finish(req, part, hash, { resumedFrom: offset, transferred: 0, restarted: false, alreadyPresent: false });

  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  let res: Response;
  try {
    res = await (req.fetch ?? fetch)(req.url, { headers, signal: req.signal, redirect: 'follow' });
  } catch (err) {
    throw transferError(req, subject, err, 'connect');
  }
  let restarted = false;
  const resumedFrom = offset;
  if (offset > 0 && res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== offset || (range.total !== undefined && range.total !== req.size)) {
      await res.body?.cancel();
      throw failed(
        subject,
        'bad_content_range',
        `the server answered Range bytes=${offset}- with Content-Range ${JSON.stringify(res.headers.get('content-range'))}`,
        206,
      );
    }
  } else if (res.status === 200) {
    // The server ignored Range (or there was nothing to resume): what comes is the whole file.
    restarted = offset > 0;
    offset = 0;
  } else {
    await res.body?.cancel();
    if (res.status === 416) await rm(part, { force: true }); // our .part does not fit the file the server has now
    throw failed(subject, 'http_status', `the server answered HTTP ${res.status}`, res.status);
  }
  const fh = await open(part, offset > 0 ? 'r+' : 'w');
  const h = restarted ? createHash('sha256') : hash;
  let position = offset;
  let transferred = 0;
  try {
    if (!res.body) throw failed(subject, 'empty_body', 'the response has no body', res.status);
    for await (const buf of bodyChunks(res.body)) {
      const room = req.size - position;
      const take = Math.min(room, buf.length);
      if (take > 0) {
        await writeAll(fh, buf, take, position);
        h.update(buf.subarray(0, take));
        position += take;
        transferred += take;
        req.onProgress?.(position, req.size);
      }
      if (take < buf.length) {
        await fh.close().catch(() => undefined);
        await rm(part, { force: true });
        throw failed(subject, 'too_long', `the body is longer than the ${req.size} bytes the manifest names`, res.status);
      }
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    if (err instanceof KioskError) throw err;
    throw transferError(req, subject, err, 'interrupted', { received: position });
  }
  await fh.close();
  if (position < req.size) throw failed(subject, 'truncated', `the body ended after ${position} of ${req.size} bytes`, res.status, { received: position });
  return finish(req, part, h, { resumedFrom: restarted ? 0 : resumedFrom, transferred, restarted, alreadyPresent: false });
}

/** Checks the complete `.part` against the manifest's hash, then renames it into place durably. */
async function finish(req: DownloadRequest, part: string, hash: Hash, outcome: DownloadOutcome): Promise<DownloadOutcome> {
  const got = hash.digest('hex');
  if (got !== req.sha256) {
    await rm(part, { force: true });
    throw new KioskError('E_UPDATE_HASH', 'the downloaded file does not match the sha256 of the release manifest', {
      subject: req.dest,
      details: { expected: req.sha256, actual: got },
    });
  }
  await rename(part, req.dest);
  await fsyncDir(dirname(req.dest));
  return outcome;
}

/** True when `file` exists with `size` bytes hashing to `sha256` (a download finished before a crash). */
async function hasContent(file: string, size: number, sha256: string): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile() || st.size !== size) return false;
  const h = createHash('sha256');
  await hashFile(file, h);
  return h.digest('hex') === sha256;
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

async function writeAll(fh: FileHandle, buf: Uint8Array, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
    done += bytesWritten;
  }
}

/** The chunks of a fetch body; leaving the loop early cancels the stream (the connection is dropped). */
export async function* bodyChunks(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** `bytes <start>-<end>/<total|*>` → numbers; undefined when it is not that. */
export function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = v === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) return undefined;
  return { start, end, total: m[3] === '*' ? undefined : Number(m[3]) };
}

function transferError(req: DownloadRequest, subject: string, err: unknown, reason: string, details: Record<string, unknown> = {}): KioskError {
  if (req.signal?.aborted) return new KioskError('E_ABORTED', 'the download was aborted', { subject, cause: err, details });
  return failed(subject, reason, `the download failed: ${(err as Error)?.message ?? String(err)}`, undefined, details, err);
}

function failed(subject: string, reason: string, message: string, status?: number, details: Record<string, unknown> = {}, cause?: unknown): KioskError {
  return new KioskError('E_UPDATE_DOWNLOAD', message, { subject, cause, details: { reason, ...(status === undefined ? {} : { status }), ...details } });
}
