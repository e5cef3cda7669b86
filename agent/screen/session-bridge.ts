/**
 * Wires one session's runner output to the customer screen: the plan, prompt and progress
 * effects, camera frames for the preview, and the verdict with what happens next.
 * The daemon and `kiosk-agent verify --screen` use the same bridge.
 */
import type { RgbImage } from '../../base/rgb-image.js';
import type { ChallengePlan, SessionEffect, SessionResult } from '../session/types.js';
import { nextStepOf, type NextStep } from './protocol.js';
import type { ScreenEvent } from './server.js';

/** The part of `CustomerScreen` a session needs (a fake in tests). */
export interface ScreenSink {
  show(event: ScreenEvent): void;
  preview(image: RgbImage): void;
}

export interface SessionBridge {
  /** For `RunnerDeps.onEffect` / `VerifyOptions.onEffect`. */
  onEffect(effect: SessionEffect): void;
  /** For every camera frame (the screen keeps at most a few per second). */
  onImage(image: RgbImage): void;
  /** Shows the verdict; `next` overrides what the screen says happens next. */
  finish(result: Pick<SessionResult, 'verdict' | 'reasons'>, next?: NextStep): void;
}

/** Announces the session (its steps) and returns the callbacks that feed the screen. */
export function bridgeSession(screen: ScreenSink, plan: Pick<ChallengePlan, 'steps'>): SessionBridge {
  screen.show({ type: 'session', steps: plan.steps.map((s) => s.kind) });
  let finished = false;
  return {
    onEffect(effect) {
      if (finished) return;
      if (effect.type === 'prompt') screen.show({ type: 'prompt', id: effect.id });
      else if (effect.type === 'progress')
        screen.show({ type: 'progress', phase: effect.phase, completedSteps: effect.completedSteps, totalSteps: effect.totalSteps });
      else if (effect.type === 'done') this.finish(effect.result);
    },
    onImage(image) {
      if (!finished) screen.preview(image);
    },
    finish(result, next) {
      if (finished) return;
      finished = true;
      screen.show({ type: 'verdict', verdict: result.verdict, reasons: [...result.reasons], next: next ?? nextStepOf(result.verdict, result.reasons) });
    },
  };
}
