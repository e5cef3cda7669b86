/**
 * `kiosk-agent document read`: reads an identity document's chip on a PC/SC reader (BAC with the MRZ
 * given, passive authentication against a folder of CSCA certificates, active authentication when
 * the chip has DG15) and prints what a signed result may say about it: no name, number or image.
 * The portrait goes to a file only with --portrait-out (PNG, mode 0600). Exit 0 authenticated,
 * 1 refused by a check (E_DOC_PASSIVE_AUTH, E_DOC_CLONE_SUSPECTED), 2 any other error.
 */
import type { Command } from 'commander';
import { EXIT, intArg, reportError } from '../../base/cli.js';
import { KioskError, isKioskError } from '../../base/errors.js';

export function register(program: Command): Command {
  const doc = program.command('document').summary("identity documents: read and authenticate the chip's data");
  doc
    .command('read')
    .description('Reads the chip on a PC/SC reader and prints its authenticated claims as JSON (no personal data).')
    .requiredOption('--mrz <lines>', 'the MRZ lines printed on the data page, comma-separated (the chip access key comes from them)')
    .requiredOption('--csca <dir>', 'folder of trusted CSCA certificates (PEM or DER)')
    .option('--reader <kind>', 'reader kind (pcsc)', 'pcsc')
    .option('--reader-name <name>', 'the PC/SC reader to use (default: the first with a card)')
    .option('--timeout <sec>', 'wait this long for a card', intArg('--timeout', 1), 30)
    .option('--portrait-out <file>', "write the chip's portrait here (PNG, mode 0600): biometric data, for checks only")
    .action(async (o: { mrz: string; csca: string; reader: string; readerName?: string; timeout: number; portraitOut?: string }) => {
      try {
        if (o.reader !== 'pcsc') throw new KioskError('E_USAGE', 'the only reader kind is pcsc', { subject: '--reader' });
        const [{ parseMrz }, { loadCscaFolder }, { PcscDocumentReader }] = await Promise.all([
          import('../../device/document/mrz.js'),
          import('../../device/document/trust-store.js'),
          import('../../device/document/pcsc-reader.js'),
        ]);
        const mrz = parseMrz(o.mrz.split(','));
        const reader = new PcscDocumentReader({ trust: { cscas: await loadCscaFolder(o.csca) }, readerName: o.readerName });
        await reader.start();
        try {
          const reading = await reader.read({ accessKey: mrz.accessKey, timeoutMs: o.timeout * 1000 });
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
          process.stdout.write(`${JSON.stringify({ ok: true, ...reading.claims })}\n`);
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
