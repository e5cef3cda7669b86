/**
 * Reference portraits from real specimen documents (../shared/data/passporteye-specimens): how many
 * of the 28 annotated portraits are found and pass the quality checks, that ghost images do not
 * cause E_MULTIPLE_FACES, and document-to-document matching at the session's match threshold
 * (all pairs among the portraits that pass). Same holder: the ICAO Utopia specimen holder on 5
 * documents (DERIVED_doc_annotations.tsv), and the POLX specimen passport and visa, which carry the
 * same portrait (not in the annotations; checked by eye after the first run flagged the pair).
 * Everyone else is taken for a different holder.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { createFaceEngine } from '../../models/face-engine.js';
import { cosineSimilarity } from '../../models/engine.js';
import { decodeImageFile } from '../../device/media/image.js';
import { buildReference, type ReferencePortrait } from '../../agent/reference/portrait.js';
import { DEFAULT_SESSION_CONFIG } from '../../agent/session/config.js';
import { isKioskError } from '../../base/errors.js';
import { dataPath, hasData, NO_DATA } from '../helpers/data.js';

const SET = 'passporteye-specimens';

t.test(
  'specimen documents: portraits found, ghosts set aside, same holder matched, others not',
  { skip: hasData ? false : NO_DATA, timeout: 180_000 },
  async (t) => {
    const rows = (await readFile(dataPath(`${SET}/DERIVED_doc_annotations.tsv`), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'));
    const withPortrait = rows.filter((r) => r[4].startsWith('yes'));
    t.equal(withPortrait.length, 28, '28 documents are annotated with a portrait');
    const engine = createFaceEngine();
    await engine.start();
    t.teardown(() => engine.stop());
    const refs = new Map<string, ReferencePortrait>();
    const refused: string[] = [];
    for (const r of withPortrait) {
      try {
        refs.set(r[0], await buildReference(engine, await decodeImageFile(dataPath(`${SET}/${r[0]}`)), { subject: r[0] }));
      } catch (err) {
        if (!isKioskError(err)) throw err;
        refused.push(`${r[0]}: ${err.code} ${String(err.details?.issue ?? '')}`);
      }
    }
    t.comment(`portraits accepted as references: ${refs.size}/${withPortrait.length}; refused: ${refused.join('; ') || 'none'}`);
    t.ok(refs.size >= 25, `${refs.size}/28 portraits usable`);
    for (const ghost of ['100_pass-cze.jpg', '100_pass-cze2.jpg']) {
      const ref = refs.get(`passporteye/mrz/testdata/${ghost}`);
      t.ok(ref, `${ghost}: found despite its ghost image`);
      t.equal(ref?.summary.facesFound, 2, `${ghost}: two faces detected`);
      t.equal(ref?.summary.ignored.length, 1, `${ghost}: the ghost set aside`);
    }
    const holder = (p: string) => (/uto\.jpg$|passport-td[23]\.jpg$/.test(p) ? 'utopia' : /-polx\.jpg$/.test(p) ? 'polx' : p);
    const threshold = DEFAULT_SESSION_CONFIG.minMatchSimilarity;
    const keys = [...refs.keys()];
    let same = 0,
      sameAccepted = 0,
      diff = 0,
      diffAccepted = 0;
    let sameMin = Infinity,
      diffMax = -Infinity;
    const falseAccepts: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      for (let j = i + 1; j < keys.length; j++) {
        const s = cosineSimilarity(refs.get(keys[i])!.template, refs.get(keys[j])!.template);
        if (holder(keys[i]) === holder(keys[j])) {
          same++;
          if (s >= threshold) sameAccepted++;
          sameMin = Math.min(sameMin, s);
        } else {
          diff++;
          if (s >= threshold) {
            diffAccepted++;
            falseAccepts.push(`${keys[i]} ~ ${keys[j]} ${s.toFixed(3)}`);
          }
          diffMax = Math.max(diffMax, s);
        }
      }
    }
    t.comment(
      `document-to-document at similarity >= ${threshold}: same holder accepted ${sameAccepted}/${same} (lowest ${sameMin.toFixed(3)}); different holders accepted ${diffAccepted}/${diff} (highest ${diffMax.toFixed(3)})${falseAccepts.length ? `: ${falseAccepts.join('; ')}` : ''}`,
    );
    t.equal(same, 11, 'the Utopia holder on 5 documents (10 pairs) and the POLX holder on 2 (1 pair)');
    t.equal(sameAccepted, same, 'every same-holder pair accepted');
    t.equal(diffAccepted, 0, 'no different-holder pair accepted');
    for (const r of refs.values()) r.template.fill(0);
  },
);

t.test('two different people in one picture: E_MULTIPLE_FACES; a blurred portrait: E_FACE_QUALITY', { skip: hasData ? false : NO_DATA }, async (t) => {
  const engine = createFaceEngine();
  await engine.start();
  t.teardown(() => engine.stop());
  const couple = await decodeImageFile(dataPath('deepface-verify/tests/unit/dataset/couple.jpg'));
  await t.rejects(buildReference(engine, couple, { subject: 'couple.jpg' }), { code: 'E_MULTIPLE_FACES' });
  // A box blur over a real portrait, its radius a tenth of the face width (the sharpness is measured on a normalised crop).
  const img = await decodeImageFile(dataPath('deepface-verify/tests/unit/dataset/img1.jpg'));
  const width = (await engine.analyze(img)).faces[0].detection.box.width;
  const blurred = boxBlur(img, Math.round(width / 10));
  await t.rejects(buildReference(engine, blurred, { subject: 'img1 blurred' }), { code: 'E_FACE_QUALITY', details: { issue: 'blurry' } });
  t.ok(await buildReference(engine, img), 'the sharp original is accepted');
});

function boxBlur(src: { width: number; height: number; data: Uint8Array }, r: number) {
  const { width: w, height: h } = src;
  const pass = (inp: Uint8Array, horizontal: boolean) => {
    const out = new Uint8Array(inp.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          let s = 0,
            n = 0;
          for (let k = -r; k <= r; k++) {
            const xx = horizontal ? x + k : x,
              yy = horizontal ? y : y + k;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            s += inp[(yy * w + xx) * 3 + c];
            n++;
          }
          out[(y * w + x) * 3 + c] = Math.round(s / n);
        }
    return out;
  };
  return { width: w, height: h, data: pass(pass(src.data, true), false) };
}
