import t from 'tap';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultModelsDir, findModel, modelDigest, readManifest, readVerified } from '../../models/manifest.js';
import { rejectsWithCode } from '../helpers/errors.js';

t.test('every manifest entry is complete', async (t) => {
  const m = await readManifest();
  t.ok(m.models.length >= 6);
  for (const model of m.models) {
    t.match(model, { id: String, task: String, format: String, runtime: String, licence: String, origin: String, dtype: String });
    t.ok(model.input.shape.length === 4, `${model.id} has a 4-d input shape`);
    for (const f of model.files) {
      t.match(f.sha256, /^[0-9a-f]{64}$/, `${f.path} sha256`);
      t.ok(f.bytes > 0, `${f.path} bytes`);
      t.ok(f.source || f.derivedFrom, `${f.path} names where it came from`);
      if (f.source?.committed) {
        t.match(
          f.source,
          { repository: /^https:\/\/github\.com\//, commit: /^[0-9a-f]{40}$/, sha256: /^[0-9a-f]{64}$/, converter: /^scripts\// },
          `${f.path}: provenance of the converted weights`,
        );
        const bytes = await readFile(new URL(`../../${f.source.committed}`, import.meta.url));
        t.equal(createHash('sha256').update(bytes).digest('hex'), f.sha256, `${f.source.committed} is the file the manifest names`);
      } else if (f.source) {
        t.match(f.source, { package: String, version: String }, `${f.path}: npm package and version`);
      }
    }
  }
});

t.test('a verified model loads and a changed byte is refused, naming the file', async (t) => {
  const m = await readManifest();
  const model = findModel(m, 'fr_eye');
  const files = await readVerified(model);
  t.equal(files.size, 1);
  t.match(modelDigest(model), { id: 'fr_eye', sha256: model.files[0].sha256 });

  const dir = t.testdir({});
  const target = join(dir, model.files[0].path);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(join(defaultModelsDir(), model.files[0].path), target);
  const buf = await readFile(target);
  buf[Math.floor(buf.length / 2)] ^= 0x01;
  await writeFile(target, buf);
  await rejectsWithCode(t, readVerified(model, dir), 'E_MODEL_INTEGRITY', target);

  await writeFile(target, buf.subarray(0, 100));
  await rejectsWithCode(t, readVerified(model, dir), 'E_MODEL_INTEGRITY', /100 bytes/);

  await rejectsWithCode(t, readVerified(model, join(dir, 'nowhere')), 'E_MODEL_MISSING', 'nowhere');
  t.throws(() => findModel(m, 'no_such_model'), { code: 'E_MODEL_MANIFEST' });
});
