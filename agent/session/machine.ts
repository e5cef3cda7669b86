/**
 * The verification session as a pure state machine: `step(state, event) -> { state, effects }`.
 * No clock (times come with the events), no models (the runner turns frames into signals and
 * answers `capture_for_decision` effects), no I/O. The same events always give the same effects.
 *
 * Phases: waiting_face -> quality_gate -> challenge (the plan's steps) -> deciding -> done.
 * The decision samples are taken during the session (anchor, intervals, step marks), so the last
 * step usually leads straight to deciding; only when frontal or attack samples are still missing
 * does `final_capture` wait for more frames first. Any phase can end early (timeouts, wrong
 * action, second face, face lost, cancel); `done` ignores every further event.
 */
import { KioskError } from '../../base/errors.js';
import { resolveSessionConfig, type SessionConfig } from './config.js';
import { NEW_TRACK } from './gestures.js';
import { isStrongPlan } from '../../protocol/plan.js';
import { finish } from './result.js';
import { NO_ISSUES, type SessionState } from './state.js';
import { Transition, type StepOutput } from './transition.js';
import { recordDecision } from './transitions/capture.js';
import { challengeFrame, challengeTimeout } from './transitions/challenge.js';
import { decidingTimeout, decisionArrived, toDeciding } from './transitions/decide.js';
import { finalFrame, finalTimeout } from './transitions/final.js';
import { gateFrame, gateTimeout } from './transitions/gate.js';
import { waitFrame, waitTimeout } from './transitions/wait.js';
import type { ChallengePlan, FrameEvent, SessionEvent, SessionResult, StepTiming } from './types.js';

export type { StepOutput } from './transition.js';

export interface SessionInit {
  plan: ChallengePlan;
  /** Overrides of `DEFAULT_SESSION_CONFIG`; validated (throws `E_CONFIG_INVALID` naming the key). */
  config?: Partial<SessionConfig>;
  /** Time the session starts, ms, on the clock of the events. */
  startMs: number;
}

/** A new session in `waiting_face`. */
export function createSession(init: SessionInit): SessionState {
  const config = resolveSessionConfig(init.config);
  if (init.plan.steps.length === 0) throw new KioskError('E_CHALLENGE_INVALID', 'the plan has no steps', { subject: 'plan' });
  if (!config.allowWeakPlans && !isStrongPlan(init.plan)) {
    throw new KioskError(
      'E_CHALLENGE_INVALID',
      'the plan needs at least two steps and a head move (a replay of anyone blinking satisfies a blink-only plan); session.allowWeakPlans accepts it',
      {
        subject: 'plan',
      },
    );
  }
  if (!Number.isFinite(init.startMs)) throw new KioskError('E_USAGE', `invalid session start time ${init.startMs}`, { subject: 'startMs' });
  const steps: StepTiming[] = init.plan.steps.map((s) => ({
    kind: s.kind,
    timeLimitMs: s.timeLimitMs,
    status: 'not_started',
    startedAtMs: null,
    completedAtMs: null,
    durationMs: null,
    peakDeg: null,
  }));
  return {
    config,
    plan: init.plan,
    phase: 'waiting_face',
    startedMs: init.startMs,
    nowMs: init.startMs,
    phaseStartedMs: init.startMs,
    lastPrompt: null,
    framesSeen: 0,
    waitNoFace: 0,
    waitMulti: 0,
    gateFrames: 0,
    gateStreak: 0,
    gatePoses: [],
    issues: NO_ISSUES,
    anchor: null,
    gatePassedMs: null,
    lastFaceMs: null,
    multiStreak: 0,
    current: null,
    track: NEW_TRACK,
    steps,
    motion: [],
    challengeDoneMs: null,
    samples: [],
    lastCaptureMs: null,
    cancelReason: null,
    result: null,
  };
}

/**
 * Advances the session by one event. Event times are clamped so that they never go backwards.
 * Timeouts are checked on every event (ticks exist so that they fire without frames).
 */
export function step(state: SessionState, event: SessionEvent): StepOutput {
  if (state.phase === 'done') return { state, effects: [] };
  if (!Number.isFinite(event.tMs)) throw new KioskError('E_USAGE', `event ${event.type} has no valid time`, { subject: 'tMs' });
  const tr = new Transition({ ...state, nowMs: Math.max(state.nowMs, event.tMs) });

  switch (event.type) {
    case 'cancel':
      tr.set({ cancelReason: event.reason });
      return finish(tr, 'reject', ['cancelled']).output();
    case 'decision':
    case 'decision_failed':
      recordDecision(tr, event);
      decisionArrived(tr);
      if (!tr.done) onTime(tr);
      return tr.output();
    case 'tick':
      return onTime(tr).output();
    case 'end':
      return onEnd(tr).output();
    case 'frame':
      tr.set({ framesSeen: tr.state.framesSeen + 1 });
      onTime(tr);
      if (!tr.done) onFrame(tr, event);
      return tr.output();
  }
}

/** True once the session has a result. */
export function isDone(state: SessionState): boolean {
  return state.phase === 'done';
}

/** The result of a finished session, or null. */
export function resultOf(state: SessionState): SessionResult | null {
  return state.result;
}

function onTime(tr: Transition): Transition {
  switch (tr.state.phase) {
    case 'waiting_face':
      return waitTimeout(tr);
    case 'quality_gate':
      return gateTimeout(tr);
    case 'challenge':
      return challengeTimeout(tr);
    case 'final_capture':
      return finalTimeout(tr);
    case 'deciding':
      return decidingTimeout(tr);
    case 'done':
      return tr;
  }
}

function onEnd(tr: Transition): Transition {
  switch (tr.state.phase) {
    case 'waiting_face':
      return waitTimeout(tr, true);
    case 'quality_gate':
      return gateTimeout(tr, true);
    case 'challenge':
      return finish(tr, 'reject', ['challenge_timeout'], 'timeout');
    case 'final_capture':
      return toDeciding(tr);
    case 'deciding':
    case 'done':
      // Deciding waits for answers, not frames.
      return tr;
  }
}

function onFrame(tr: Transition, e: FrameEvent): Transition {
  switch (tr.state.phase) {
    case 'waiting_face':
      return waitFrame(tr, e);
    case 'quality_gate':
      return gateFrame(tr, e);
    case 'challenge':
      return challengeFrame(tr, e);
    case 'final_capture':
      return finalFrame(tr, e);
    case 'deciding':
    case 'done':
      // Frames after the capture are not needed: the verdict waits only for decisions.
      return tr;
  }
}
