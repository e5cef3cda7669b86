#!/usr/bin/env node
import { Command } from 'commander';
import { registerCommands } from './commands.js';
import { agentVersion } from '../../base/paths.js';

/** The `kiosk-agent` command line. Each command lives in its own module and registers itself. */
export function buildProgram(): Command {
  const program = new Command('kiosk-agent')
    .description('On-device face liveness and 1:1 matching for SIM vending kiosks; only a signed verdict leaves the device.')
    .version(agentVersion())
    .showHelpAfterError()
    .enablePositionalOptions();
  registerCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
