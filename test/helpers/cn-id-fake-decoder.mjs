#!/usr/bin/env node
/**
 * FAKE, test only: stands in for the reader vendor's wlt photo decoder, which we do not have. It does
 * not decode wlt. It reads the photo bytes from stdin and, by its first argument:
 *   png      writes a known 4x5 PNG (pixel i: R 200, G 10*i, B 50); exits 3 unless it got 1024 bytes
 *   crash    exits by SIGSEGV after reading stdin
 *   fail     exits 2
 *   hang     never exits
 *   garbage  writes bytes that are no image
 *   huge     writes 64 MiB
 *   echo     writes stdin to stderr and exits 1 (a decoder that leaks what it was given)
 */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAQAAAAFCAIAAADtz9qMAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAP0lEQVQI1w3HkQKAMBRA0cfjOI4vx+M4jsdxHMdxPB7fz+odO2FgwQlnwgXBFWtmwx0PbJkTL7zxybz4YcfBDyPyGvVxcTGGAAAAAElFTkSuQmCC';
const mode = process.argv[2] ?? 'png';
if (mode === 'hang') setInterval(() => {}, 1000);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks);
  if (mode === 'png') {
    if (input.length !== 1024) process.exit(3);
    process.stdout.write(Buffer.from(PNG, 'base64'));
  } else if (mode === 'crash') {
    process.kill(process.pid, 'SIGSEGV');
  } else if (mode === 'fail') {
    process.exit(2);
  } else if (mode === 'garbage') {
    process.stdout.write(Buffer.from('this is not an image\n'.repeat(10)));
  } else if (mode === 'huge') {
    const block = Buffer.alloc(1 << 20, 0x41);
    let left = 64;
    const more = () => {
      while (left > 0) {
        left--;
        if (!process.stdout.write(block)) return process.stdout.once('drain', more);
      }
    };
    more();
  } else if (mode === 'echo') {
    process.stderr.write(input);
    process.exit(1);
  }
});
