/**
 * The byte link to the reader, behind a small interface: the real one is a serial port through the
 * `serialport` package (USB-serial or a UART on the kiosk's board), loaded only when a port is opened
 * so that importing the reader does not load a native binding.
 */
import { KioskError } from '../../../base/errors.js';

/** An open byte link: what the reader needs of a serial port. */
export interface ByteLink {
  write(bytes: Uint8Array): Promise<void>;
  /** Registers the listeners; `onClose` fires once when the link goes away (unplugged, closed). */
  listen(onData: (chunk: Buffer) => void, onClose: (err?: Error) => void): void;
  close(): Promise<void>;
}

/** Opens a link to `path` at `baudRate`. */
export type OpenLink = (path: string, baudRate: number) => Promise<ByteLink>;

/** The real link: `serialport` with an exclusive lock, 8N1, no flow control (what the readers use). */
export const openSerialLink: OpenLink = async (path, baudRate) => {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false, lock: true });
  try {
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw new KioskError('E_DEVICE', `cannot open the ID card reader's serial port: ${(err as Error).message}`, { subject: path, cause: err });
  }
  let closed = false;
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(bytes), (err) => {
          if (err) return reject(new KioskError('E_DEVICE', `writing to the ID card reader failed: ${err.message}`, { subject: path, cause: err }));
          port.drain((e) =>
            e ? reject(new KioskError('E_DEVICE', `writing to the ID card reader failed: ${e.message}`, { subject: path, cause: e })) : resolve(),
          );
        });
      }),
    listen(onData, onClose) {
      port.on('data', onData);
      port.on('close', (err?: Error | null) => {
        closed = true;
        onClose(err ?? undefined);
      });
      // Errors after open arrive here as well as on the next write; the close event carries the outcome.
      port.on('error', () => {});
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed || !port.isOpen) {
          port.removeAllListeners();
          return resolve();
        }
        port.close(() => {
          port.removeAllListeners();
          resolve();
        });
      }),
  };
};
