/**
 * `kiosk-agent config schema` prints every config key (type, default, unit, description) as a
 * markdown table, or the JSON Schema with --json; `kiosk-agent config check <file>` validates a
 * file and prints the resolved config (exit 0), or the first bad key (E_CONFIG_INVALID, exit 2).
 */
import type { Command } from 'commander';
import { EXIT, reportError } from '../../base/cli.js';

export function register(program: Command): Command {
  const config = program.command('config').summary('the daemon config: print its schema, check a file');
  config
    .command('schema')
    .description('Prints every config key with its type, default, unit and description (markdown table); --json prints the JSON Schema.')
    .option('--json', 'the JSON Schema instead of the table')
    .action(async (opts: { json?: boolean }) => {
      const [{ configSchema }, { schemaMarkdown }] = await Promise.all([import('../config/schema.js'), import('../config/format.js')]);
      process.stdout.write(opts.json ? `${JSON.stringify(configSchema(), null, 2)}\n` : schemaMarkdown(configSchema()));
    });
  config
    .command('check')
    .description('Validates a config file; prints the config with every default filled in, or the first bad key (exit 2).')
    .argument('<file>', 'JSON config file')
    .option('--json', 'errors as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      try {
        const { loadConfigFile } = await import('../config/load.js');
        const cfg = await loadConfigFile(file);
        process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
        process.exitCode = EXIT.ok;
      } catch (err) {
        reportError(err, opts.json);
      }
    });
  return config;
}
