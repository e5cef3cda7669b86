/**
 * Presentation-level PAD on recordings (ISO/IEC 30107-3: a presentation is one attempt, here one
 * video), scored as the session scores it: the session's quality gate and stillness rule give the
 * anchor (a recording that never passes it is a failure to acquire, FTA, listed with the gate's
 * dominant issue: the kiosk never computes an attack score for it); then the frames a session
 * would sample for the attack model: near the anchor pose (within `padMaxPoseDeg`), one every
 * `captureIntervalMs`, at most `maxDecisions`; aggregated with the session's aggregate (median by
 * default). The score per model is kept too, for comparing models and their fusion.
 */
import { primaryFace } from '../../models/select.js';
import type { SessionConfig } from '../session/config.js';
import { extendStillRun, relativeTo, type StillPose } from '../session/gestures.js';
import { aggregateAttack } from '../session/scores.js';
import { dominantIssue, isPadEligible, qualityIssue, viewFaces } from '../session/signals.js';
import { NO_ISSUES } from '../session/state.js';
import type { QualityIssue } from '../session/types.js';
import { failureOf, type EvalDeps, type FileFailure } from './deps.js';
import type { VideoRow } from './labels.js';

export interface PresentationScore {
  video: string;
  bona_fide: boolean;
  species: string;
  /** Null when the recording never passed the gate (FTA). */
  aggregate: number | null;
  /** Per model, the same aggregate over its own scores. */
  by_model: Record<string, number>;
  samples: number;
  /** FTA: the issue the gate failed on most often. */
  fta: QualityIssue | null;
  error?: FileFailure;
}

/** Scores each recording as a session would (see the module doc). */
export async function scorePresentations(rows: readonly VideoRow[], deps: EvalDeps, cfg: SessionConfig): Promise<PresentationScore[]> {
  const out: PresentationScore[] = [];
  for (const [i, row] of rows.entries()) {
    const scores: number[] = [];
    const byModel: Record<string, number[]> = {};
    let anchor: { yaw: number; pitch: number } | null = null;
    let run: StillPose[] = [];
    let lastMs = Number.NEGATIVE_INFINITY;
    const issues: Record<QualityIssue, number> = { ...NO_ISSUES };
    let error: FileFailure | undefined;
    try {
      for await (const frame of deps.frames(row.video)) {
        if (scores.length >= cfg.maxDecisions) break;
        const signals = await deps.engine.analyze(frame.image);
        const view = viewFaces(signals, cfg);
        if (!anchor) {
          const issue = qualityIssue(signals, view, cfg);
          if (issue) {
            issues[issue]++;
            run = [];
            continue;
          }
          const still = extendStillRun(run, { yaw: view.face!.pose.yaw, pitch: view.face!.pose.pitch, tMs: frame.timeMs }, cfg);
          run = still.run;
          anchor = still.anchor;
          if (!anchor) continue;
        }
        const face = view.count === 1 ? view.face : primaryFace(signals.faces);
        if (!face || face.quality.interEyePx < cfg.minInterEyePx) continue;
        if (!isPadEligible(relativeTo(face.pose, anchor), cfg) || frame.timeMs - lastMs < cfg.captureIntervalMs) continue;
        const d = await deps.engine.decide(frame.image, face);
        d.embedding.fill(0);
        lastMs = frame.timeMs;
        scores.push(d.attackScore);
        for (const [id, s] of Object.entries(d.attackScores ?? {})) (byModel[id] ??= []).push(s);
      }
    } catch (err) {
      error = failureOf(row.video, err);
    }
    out.push({
      video: row.video,
      bona_fide: row.bonaFide,
      species: row.species,
      aggregate: anchor && scores.length > 0 ? aggregateAttack(scores, cfg) : null,
      by_model: Object.fromEntries(Object.entries(byModel).map(([id, xs]) => [id, aggregateAttack(xs, cfg)!])),
      samples: scores.length,
      fta: anchor ? null : (dominantIssue(issues) ?? 'no_face'),
      ...(error ? { error } : {}),
    });
    deps.onProgress?.(i + 1, rows.length, row.video);
  }
  return out;
}
