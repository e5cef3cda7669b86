/** The accumulator one `step()` call threads through its handlers: the next state and the effects so far. */
import type { SessionState } from './state.js';
import type { Phase, PromptId, SessionEffect } from './types.js';

export interface StepOutput {
  state: SessionState;
  effects: SessionEffect[];
}

/** Local to one `step()` call; the states it produces are new objects, the input is never changed. */
export class Transition {
  readonly effects: SessionEffect[] = [];

  constructor(public state: SessionState) {}

  /** Replaces some fields of the state. */
  set(patch: Partial<SessionState>): this {
    this.state = { ...this.state, ...patch };
    return this;
  }

  /** Shows `id` unless it is already showing. */
  prompt(id: PromptId): this {
    if (this.state.lastPrompt !== id) {
      this.effects.push({ type: 'prompt', id });
      this.set({ lastPrompt: id });
    }
    return this;
  }

  emit(effect: SessionEffect): this {
    this.effects.push(effect);
    return this;
  }

  /** Enters `phase` now and reports progress. */
  enter(phase: Phase): this {
    this.set({ phase, phaseStartedMs: this.state.nowMs });
    return this.progress();
  }

  /** Reports the phase and the steps passed so far. */
  progress(): this {
    // A replacement step stands in for the one it replaces: the customer sees the plan's step count.
    const completed = this.state.steps.filter((s) => s.status === 'passed').length;
    return this.emit({ type: 'progress', phase: this.state.phase, completedSteps: completed, totalSteps: this.state.plan.steps.length });
  }

  get done(): boolean {
    return this.state.phase === 'done';
  }

  output(): StepOutput {
    return { state: this.state, effects: this.effects };
  }
}
