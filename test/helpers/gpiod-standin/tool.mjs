// STAND-IN for the libgpiod v1 command-line tools, for tests on a machine without GPIO chips (see
// chip.ts: the emulated chip this talks to over $GPIOD_STANDIN_SOCKET). Usage: tool.mjs <tool> [args].
// Never installed, never on PATH outside a test.
import { connect } from 'node:net';

const [tool, ...argv] = process.argv.slice(2);
const ERRNO = { ENOENT: 'No such file or directory', EBUSY: 'Device or resource busy', EINVAL: 'Invalid argument' };
const WHAT = { gpioget: 'error reading GPIO values', gpioset: 'error setting the GPIO line values', gpiomon: 'error waiting for events', gpioinfo: 'looking up chip' };

function die(message) {
  process.stderr.write(`${tool}: ${message}\n`);
  process.exit(1);
}

const opts = { mode: 'exit', format: undefined, lineBuffered: false, activeLow: false };
const rest = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = (short, long) => (a === short || a === long ? argv[++i] : a.startsWith(`${long}=`) ? a.slice(long.length + 1) : undefined);
  if (a === '-v' || a === '--version') {
    process.stdout.write(`${tool} (libgpiod) v${process.env.GPIOD_STANDIN_VERSION ?? '1.6.3'}\nCopyright (C) 2017-2018 Bartosz Golaszewski\nLicense: LGPLv2.1\n`);
    process.exit(0);
  } else if (a === '-l' || a === '--active-low') opts.activeLow = true;
  else if (a === '-b' || a === '--line-buffered') opts.lineBuffered = true;
  else if (value('-m', '--mode') !== undefined) opts.mode = value('-m', '--mode');
  else if (value('-F', '--format') !== undefined) opts.format = value('-F', '--format');
  else if (a.startsWith('-')) die(`unrecognized option '${a}'`);
  else rest.push(a);
}

let leaving = false;
/** Closes the connection to the chip on purpose (releasing what this process held). */
function finish(socket) {
  leaving = true;
  socket.end();
}

/** Sends one request to the chip; resolves with the first reply, passes later lines to `onMore`. */
function request(body, onMore) {
  const path = process.env.GPIOD_STANDIN_SOCKET;
  if (!path) die('GPIOD_STANDIN_SOCKET is not set (this is a test stand-in)');
  return new Promise((resolve) => {
    const socket = connect(path);
    let buffered = '';
    let first = true;
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (first) {
          first = false;
          resolve({ reply: msg, socket });
        } else onMore?.(msg);
      }
    });
    socket.on('error', (err) => die(`${WHAT[tool] ?? 'error'}: ${err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ERRNO.ENOENT : err.message}`));
    // The chip went away (device removed): the real tools fail their next read.
    socket.on('close', () => { if (!first && !leaving) die(`${WHAT[tool] ?? 'error'}: ${ERRNO.ENOENT}`); });
    socket.write(JSON.stringify(body) + '\n');
  });
}

/**
 * SIGTERM/SIGINT: exit 0 as the real tools do. The kernel releases a process's lines as it exits, so
 * whoever waited for the exit finds them free: the chip is told before exiting, not after.
 */
function exitOnSignal(socket, flush = () => {}) {
  const bye = () => {
    flush();
    leaving = true;
    socket.on('data', () => process.exit(0));
    socket.write(JSON.stringify({ op: 'release' }) + '\n');
  };
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, bye);
}

const offsetsOf = (list) => list.map((s) => (/^\d+$/.test(s) ? Number(s) : die(`invalid GPIO offset: ${s}`)));
const failOn = (reply) => { if (reply.error) die(`${WHAT[tool]}: ${ERRNO[reply.error] ?? reply.error}`); };
const [chip, ...lines] = rest;

if (tool === 'gpiodetect') {
  const { reply, socket } = await request({ op: 'detect' });
  for (const c of reply.chips) process.stdout.write(`${c.name} [${c.label}] (${c.lines} lines)\n`);
  finish(socket);
} else if (tool === 'gpiofind') {
  const { reply, socket } = await request({ op: 'find', name: chip });
  finish(socket);
  if (reply.chip === undefined) process.exit(1);
  process.stdout.write(`${reply.chip} ${reply.offset}\n`);
} else if (tool === 'gpioinfo') {
  const { reply, socket } = await request({ op: 'info', chip: chip ?? 'gpiochip0' });
  finish(socket);
  if (reply.error) die(`looking up chip ${chip}: ${ERRNO[reply.error]}`);
  process.stdout.write(`gpiochip0 - ${reply.lines.length} lines:\n`);
  for (const l of reply.lines) {
    const name = (l.name ? `"${l.name}"` : 'unnamed').padStart(12);
    const consumer = (l.consumer ? `"${l.consumer}"` : 'unused').padStart(12);
    process.stdout.write(`\tline ${String(l.offset).padStart(3)}: ${name} ${consumer}  ${l.direction.padEnd(6)}  active-high${l.consumer ? ' [used]' : ''}\n`);
  }
} else if (tool === 'gpioget') {
  if (!chip) die('gpiochip must be specified');
  if (lines.length === 0) die('at least one GPIO line offset must be specified');
  const { reply, socket } = await request({ op: 'get', chip, offsets: offsetsOf(lines) });
  finish(socket);
  failOn(reply);
  process.stdout.write(reply.values.map((v) => (opts.activeLow ? 1 - v : v)).join(' ') + '\n');
} else if (tool === 'gpioset') {
  if (!chip) die('gpiochip must be specified');
  if (lines.length === 0) die('at least one GPIO line offset to value mapping must be specified');
  const pairs = lines.map((p) => /^(\d+)=([01])$/.exec(p) ?? die(`invalid offset<->value mapping: ${p}`));
  const values = pairs.map((m) => (opts.activeLow ? 1 - Number(m[2]) : Number(m[2])));
  const { reply, socket } = await request({ op: 'set', chip, offsets: pairs.map((m) => Number(m[1])), values });
  failOn(reply);
  if (opts.mode === 'exit') finish(socket);
  else if (opts.mode === 'signal') exitOnSignal(socket);
  else die(`mode ${opts.mode} is not emulated`);
} else if (tool === 'gpiomon') {
  if (!chip) die('gpiochip must be specified');
  if (lines.length === 0) die('GPIO line offset must be specified');
  let pending = '';
  const out = (text) => {
    // Real gpiomon writes through stdio: block-buffered on a pipe unless --line-buffered.
    if (opts.lineBuffered) process.stdout.write(text);
    else if ((pending += text).length >= 4096) { process.stdout.write(pending); pending = ''; }
  };
  const print = (e) => {
    if (opts.format === undefined) {
      out(`event: ${e.rising ? ' RISING EDGE' : 'FALLING EDGE'} offset: ${e.offset} timestamp: [${e.sec.padStart(8)}.${e.nsec.padStart(9, '0')}]\n`);
      return;
    }
    const spec = { o: String(e.offset), e: e.rising ? '1' : '0', s: e.sec, n: e.nsec, '%': '%' };
    out(opts.format.replace(/%(.?)/g, (m, c) => spec[c] ?? m) + '\n');
  };
  const { reply, socket } = await request({ op: 'monitor', chip, offsets: offsetsOf(lines) }, (msg) => msg.event && print(msg.event));
  failOn(reply);
  exitOnSignal(socket, () => process.stdout.write(pending));
} else {
  die('unknown stand-in tool');
}
