/** The verification session's pure decision logic: plans, the state machine, motion consistency, abuse limits. */
export * from './types.js';
export * from '../../protocol/plan.js';
export * from './config.js';
export { createSession, step, isDone, resultOf, type SessionInit, type StepOutput } from './machine.js';
export type { SessionState } from './state.js';
export * from './motion.js';
export * from './abuse.js';
