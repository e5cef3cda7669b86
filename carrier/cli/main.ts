#!/usr/bin/env node
/**
 * `kiosk-carrier`: the carrier's side of the system (CA, CSR signing, nonces, result verification,
 * broker policy, enrolment service). Not part of the kiosk package: run from this repository with
 * `npm run carrier -- <command>`.
 */
import { Command } from 'commander';
import { agentVersion } from '../../base/paths.js';
import { register } from './carrier.js';

const program = new Command('kiosk-carrier')
  .description('carrier-side tools: CA, CSR signing, nonces, result verification, broker policy, enrolment')
  .version(agentVersion())
  .showHelpAfterError();
register(program);
await program.parseAsync(process.argv);
