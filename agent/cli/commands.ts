import type { Command } from 'commander';
import { register as registerAnalyze } from './analyze.js';
import { register as registerEval } from './eval.js';
import { register as registerProvision } from './provision.js';
import { register as registerVerify } from './verify.js';
import { register as registerEvalSessions } from './eval-sessions.js';
import { register as registerRun } from './run.js';
import { register as registerConfig } from './config.js';
import { register as registerDocument } from './document.js';
import { register as registerUpdate } from './update.js';

/** Every command module exports one `register(program)`; this list is the only place they are named. */
export function registerCommands(program: Command): void {
  registerAnalyze(program);
  registerEvalSessions(registerEval(program));
  registerProvision(program);
  registerVerify(program);
  registerRun(program);
  registerConfig(program);
  registerDocument(program);
  registerUpdate(program);
}
