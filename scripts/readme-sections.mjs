#!/usr/bin/env node
// The README carries the operator- and carrier-facing documents verbatim so that one file tells the
// whole story; their sources are docs/<name>.md (linked from code comments and tests). This script
// copies each source between the README's `<!-- section:<name> -->` markers, demoting a leading H1
// and rewriting relative links for the README's location.
//
//   node scripts/readme-sections.mjs          update README.md
//   node scripts/readme-sections.mjs --check  exit 1 if README.md is out of date (a unit test runs this)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SECTIONS = ['session', 'carrier', 'update', 'arm64', 'device', 'daemon', 'screen', 'assist'];
const ANCHORS = {
  'session.md': '#verification-session',
  'device.md': '#kiosk-device-guide',
  'daemon.md': '#the-kiosk-daemon-kiosk-agent-run',
  'screen.md': '#customer-screen',
  'assist.md': '#remote-assistance-webrtc',
  'update.md': '#updating-a-fleet',
  'carrier.md': '#running-the-carrier-side',
  'arm64.md': '#running-on-a-raspberry-pi--jetson',
};

/** Demotes every heading outside code fences by one level when the document starts with an H1. */
function demote(md) {
  if (!/^# /.test(md.trimStart())) return md;
  let fence = false;
  return md
    .split('\n')
    .map((line) => {
      if (line.startsWith('```')) fence = !fence;
      return !fence && line.startsWith('#') ? `#${line}` : line;
    })
    .join('\n');
}

export function sectionBody(md) {
  let body = demote(md)
    .replace(/\]\((screen|assist|eval)\//g, '](docs/$1/')
    .replace(/\]\((brokers\.md|arm64-parity\.md)/g, '](docs/$1');
  for (const [file, anchor] of Object.entries(ANCHORS)) body = body.split(`](${file})`).join(`](${anchor})`);
  return body.trim();
}

export function render(readme, root) {
  let out = readme;
  for (const name of SECTIONS) {
    const src = join(root, 'docs', `${name}.md`);
    const open = `<!-- section:${name} -->`;
    const close = `<!-- /section:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (!existsSync(src)) {
      // No source any more: drop the section rather than keep text nobody maintains.
      if (a >= 0 && b > a) out = (out.slice(0, a).trimEnd() + '\n\n' + out.slice(b + close.length).trimStart()).trimEnd() + '\n';
      continue;
    }
    const block = `${open}\n${sectionBody(readFileSync(src, 'utf8'))}\n${close}`;
    out = a >= 0 && b > a ? out.slice(0, a) + block + out.slice(b + close.length) : `${out.trimEnd()}\n\n${block}\n`;
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const file = join(root, 'README.md');
  const before = readFileSync(file, 'utf8');
  const after = render(before, root);
  if (process.argv.includes('--check')) {
    if (after !== before) {
      console.error('README.md is out of date with docs/*.md: run node scripts/readme-sections.mjs');
      process.exit(1);
    }
  } else if (after !== before) {
    writeFileSync(file, after);
    console.error('README.md sections updated from docs/*.md');
  }
}
