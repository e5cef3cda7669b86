import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchBundleToken, stageFromUrl } from '../../provisioning/update/bundle.js';
import { downloadFile } from '../../provisioning/update/download.js';
import { rejectsWithCode } from '../helpers/errors.js';
import { bytes, releaseKey, releaseVerifier, signRelease, manifestFor, writeBundle } from '../helpers/release-fixtures.js';
import { serveReleases } from '../helpers/release-server.js';
import { ownTempDir } from '../helpers/tempdir.js';

const SIZE = 1024 * 1024 + 17;
const data = bytes(SIZE, 3);
const sha256 = createHash('sha256').update(data).digest('hex');

async function setup(t: Test) {
  const dir = ownTempDir(t, 'update-download-');
  await mkdir(join(dir, 'srv'));
  await mkdir(join(dir, 'out'));
  await writeFile(join(dir, 'srv', 'model.bin'), data);
  const server = await serveReleases(t, join(dir, 'srv'));
  const dest = join(dir, 'out', 'model.bin');
  return { dir, server, dest, req: { url: `${server.url}/model.bin`, dest, sha256, size: SIZE } };
}
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

t.test('a complete download lands under its name with progress to the total', async (t) => {
  const { req, dest } = await setup(t);
  const seen: number[] = [];
  const totals = new Set<number>();
  const out = await downloadFile({
    ...req,
    onProgress: (b, total) => {
      totals.add(total);
      seen.push(b);
    },
  });
  t.same([...totals], [SIZE], 'progress names the total');
  t.match(out, { resumedFrom: 0, transferred: SIZE, restarted: false, alreadyPresent: false });
  t.same(await readFile(dest), data);
  t.notOk(await exists(`${dest}.part`));
  t.equal(seen.at(-1), SIZE);
  t.ok(
    seen.every((b, i) => i === 0 || b >= seen[i - 1]),
    'progress only grows',
  );
  t.match(await downloadFile(req), { alreadyPresent: true, transferred: 0 }, 'a finished file is not fetched again');
});

t.test('a download cut half way resumes from where it stopped with a Range request', async (t) => {
  const { req, dest, server } = await setup(t);
  server.mode = 'cut-half';
  await rejectsWithCode(t, downloadFile(req), 'E_UPDATE_DOWNLOAD');
  t.notOk(await exists(dest), 'nothing under the real name');
  const kept = (await stat(`${dest}.part`)).size;
  t.ok(kept > 0 && kept <= SIZE >> 1, `the .part keeps what arrived (${kept} bytes)`);
  server.mode = 'normal';
  const out = await downloadFile(req);
  t.equal(server.log[1].range, `bytes=${kept}-`, 'the second request asks for the rest');
  t.equal(server.log[1].status, 206);
  t.match(out, { resumedFrom: kept, transferred: SIZE - kept, restarted: false });
  t.equal(server.log[1].sent, SIZE - kept, 'only the missing bytes crossed the network');
  t.same(await readFile(dest), data);
});

t.test('a server that ignores Range gets the file fetched from the start', async (t) => {
  const { req, dest, server } = await setup(t);
  await writeFile(`${dest}.part`, data.subarray(0, 5000));
  server.mode = 'ignore-range';
  const out = await downloadFile(req);
  t.equal(server.log[0].range, 'bytes=5000-');
  t.match(out, { restarted: true, transferred: SIZE, resumedFrom: 0 });
  t.same(await readFile(dest), data);
});

t.test('a Content-Range that does not start at the .part length is refused', async (t) => {
  const { req, dest, server } = await setup(t);
  await writeFile(`${dest}.part`, data.subarray(0, 5000));
  server.mode = 'bad-range';
  await t.rejects(downloadFile(req), { code: 'E_UPDATE_DOWNLOAD', details: { reason: 'bad_content_range', status: 206 } });
  t.notOk(await exists(dest));
});

t.test('a truncated body is refused and kept for resume; a longer one is cut and discarded', async (t) => {
  const { req, dest, server } = await setup(t);
  server.mode = 'truncate';
  await t.rejects(downloadFile(req), { code: 'E_UPDATE_DOWNLOAD', details: { reason: 'truncated', received: SIZE - 100 } });
  t.notOk(await exists(dest));
  t.equal((await stat(`${dest}.part`)).size, SIZE - 100);
  server.mode = 'too-long';
  await rejectsWithCode(t, downloadFile({ ...req, dest: `${dest}.2` }), 'E_UPDATE_DOWNLOAD', 'longer than');
  t.notOk(await exists(`${dest}.2`));
  t.notOk(await exists(`${dest}.2.part`), 'a body longer than the manifest is not kept');
});

t.test('wrong content is refused with E_UPDATE_HASH and nothing is kept', async (t) => {
  const { req, dest } = await setup(t);
  await t.rejects(downloadFile({ ...req, sha256: 'a'.repeat(64) }), { code: 'E_UPDATE_HASH', details: { expected: 'a'.repeat(64), actual: sha256 } });
  t.notOk(await exists(dest));
  t.notOk(await exists(`${dest}.part`));
  // A .part whose first bytes are not the file's (say, left by another release) is caught at the end too.
  await writeFile(`${dest}.part`, bytes(4000, 9));
  await rejectsWithCode(t, downloadFile(req), 'E_UPDATE_HASH');
  t.notOk(await exists(`${dest}.part`));
  t.same(await readFile(dest).catch(() => 'absent'), 'absent');
});

t.test('HTTP errors carry the status; abort keeps the .part', async (t) => {
  const { req, dest, server } = await setup(t);
  await t.rejects(downloadFile({ ...req, url: `${server.url}/missing.bin` }), { code: 'E_UPDATE_DOWNLOAD', details: { status: 404 } });
  server.mode = 'status-500';
  await t.rejects(downloadFile(req), { code: 'E_UPDATE_DOWNLOAD', details: { status: 500 } });
  server.mode = 'normal';
  const ac = new AbortController();
  await rejectsWithCode(t, downloadFile({ ...req, signal: ac.signal, onProgress: (b) => b > 100_000 && ac.abort() }), 'E_ABORTED');
  t.ok((await stat(`${dest}.part`)).size > 0, 'what arrived before the abort is kept');
  t.notOk(await exists(dest));
  await rejectsWithCode(t, downloadFile({ ...req, url: 'http://127.0.0.1:1/x' }), 'E_UPDATE_DOWNLOAD');
});

t.test('a bundle over HTTP: manifest verified first, files resumed, a wrong file refuses the whole bundle', async (t) => {
  const { dir, server } = await setup(t);
  const key = await releaseKey();
  const verifier = await releaseVerifier(key);
  const files = { 'detector/model.onnx': bytes(300_000, 4), 'pad/model.json': bytes(2_000, 5) };
  await writeBundle(join(dir, 'srv', 'r5'), key, 5, files);
  const release = await verifier.verify(await fetchBundleToken(`${server.url}/r5/`));
  const staging = join(dir, 'staging-5');

  let cuts = 0;
  server.mode = (path) => (path === '/r5/files/detector/model.onnx' && cuts++ === 0 ? 'cut-half' : 'normal');
  await rejectsWithCode(t, stageFromUrl(`${server.url}/r5`, release, staging), 'E_UPDATE_DOWNLOAD');
  const kept = (await stat(join(staging, 'files', 'detector', 'model.onnx.part'))).size;
  t.ok(kept > 0, 'a network failure keeps the staging and the .part for resume');
  const progress: number[] = [];
  const totals = new Set<number>();
  const staged = await stageFromUrl(`${server.url}/r5`, release, staging, {
    onProgress: (b, total) => {
      totals.add(total);
      progress.push(b);
    },
  });
  t.same([...totals], [302_000], 'progress counts over the whole release');
  const onnx = server.log.filter((r) => r.path === '/r5/files/detector/model.onnx');
  t.equal(onnx.length, 2);
  t.equal(onnx[1].range, `bytes=${kept}-`, 'the second attempt resumed the file where the first stopped');
  t.equal(progress.at(-1), 302_000);
  t.equal(staged.dir, staging);
  t.same(await readFile(join(staging, 'files', 'pad', 'model.json')), files['pad/model.json']);
  t.equal(await readFile(join(staging, 'release.jws'), 'utf8'), release.token);

  // The carrier's server (or someone on the path) serves other bytes than the release key signed.
  await writeBundle(join(dir, 'srv', 'r6'), key, 6, files);
  await writeFile(join(dir, 'srv', 'r6', 'files', 'pad', 'model.json'), bytes(2_000, 6));
  const r6 = await verifier.verify(await fetchBundleToken(`${server.url}/r6`));
  await rejectsWithCode(t, stageFromUrl(`${server.url}/r6`, r6, join(dir, 'staging-6')), 'E_UPDATE_HASH');
  t.notOk(await exists(join(dir, 'staging-6')), 'the whole staging is removed');
});

t.test('a tampered manifest on the server is refused before any file is fetched', async (t) => {
  const { dir, server } = await setup(t);
  const key = await releaseKey();
  const verifier = await releaseVerifier(key);
  const token = await signRelease(key, manifestFor(8, { a: bytes(10) }));
  const [h, , s] = token.split('.');
  const forged = Buffer.from(JSON.stringify(manifestFor(9, { a: bytes(10, 2) }))).toString('base64url');
  await mkdir(join(dir, 'srv', 'r8'));
  await writeFile(join(dir, 'srv', 'r8', 'release.jws'), `${h}.${forged}.${s}`);
  await rejectsWithCode(t, verifier.verify(await fetchBundleToken(`${server.url}/r8`)), 'E_UPDATE_SIGNATURE');
  t.same(
    server.log.map((r) => r.path),
    ['/r8/release.jws'],
    'only the manifest was requested',
  );
  t.same(await readdir(join(dir, 'out')), []);
});
