import type { Command } from 'commander';

/** Every command module exports one `register(program)`; this list is the only place they are named. */
export function registerCommands(program: Command): void {
  void program;
}
