/**
 * `kiosk-agent document read`: reads an identity document's chip on a PC/SC reader (PACE or BAC with
 * the MRZ typed or read from a photo of the page, passive authentication against the carrier's trust
 * store, chip or active authentication when the chip offers it) and prints what a signed result may
 * say about it: no name, number or image.
 * The portrait goes to a file only with --portrait-out (PNG, mode 0600). Exit 0 authenticated,
 * 1 refused by a check (E_DOC_PASSIVE_AUTH, E_DOC_CLONE_SUSPECTED), 2 any other error.
 */
import type { Command } from 'commander';
import { EXIT, reportError } from '../../base/cli.js';
import { KioskError, isKioskError } from '../../base/errors.js';
import { accessKeyOf, documentOptions, numberKeyOf, pcscReaderOf, type DocumentCliOptions } from './document-options.js';

interface ReadOptions extends DocumentCliOptions {
  reader: string;
  portraitOut?: string;
}

export function register(program: Command): Command {
  const doc = program.command('document').summary("identity documents: read and authenticate the chip's data");
  const read = doc
    .command('read')
    .description('Reads the chip on a PC/SC reader and prints its authenticated claims as JSON (no personal data).')
    .option('--reader <kind>', 'reader kind (pcsc)', 'pcsc')
    .option('--portrait-out <file>', "write the chip's portrait here (PNG, mode 0600): biometric data, for checks only");
  documentOptions(read).action(async (o: ReadOptions) => {
    try {
      if (o.reader !== 'pcsc') throw new KioskError('E_USAGE', 'the only reader kind is pcsc', { subject: '--reader' });
      const accessKey = await accessKeyOf(o);
      const [reader, hashKey] = [await pcscReaderOf(o), await numberKeyOf(o)];
      await reader.start();
      try {
        const reading = await reader.read({ accessKey, timeoutMs: o.documentTimeout * 1000 });
        if (o.portraitOut) {
          const [{ default: sharp }, { writeFile }] = await Promise.all([import('sharp'), import('node:fs/promises')]);
          const { width, height, data } = reading.portrait;
          await writeFile(
            o.portraitOut,
            await sharp(data, { raw: { width, height, channels: 3 } })
              .png()
              .toBuffer(),
            { mode: 0o600 },
          );
        }
        const { chipReferenceClaims } = await import('../reference/chip.js');
        // What a signed result would carry (with the document-number hash when --number-key is given), and the data groups checked.
        process.stdout.write(
          `${JSON.stringify({ ok: true, ...chipReferenceClaims(reading, hashKey), dataGroups: reading.claims.dataGroups, portraitFormat: reading.claims.portraitFormat })}\n`,
        );
        process.exitCode = EXIT.ok;
      } finally {
        await reader.stop();
      }
    } catch (err) {
      if (isKioskError(err) && (err.code === 'E_DOC_PASSIVE_AUTH' || err.code === 'E_DOC_CLONE_SUSPECTED')) {
        process.stdout.write(`${JSON.stringify({ ok: false, code: err.code, reason: err.details?.reason, message: err.message })}\n`);
        process.exitCode = EXIT.reject;
      } else reportError(err);
    }
  });
  return doc;
}
