// The customer screen. Everything it shows comes from the agent over one WebSocket (JSON text
// messages; binary messages are JPEG preview frames), opened with the secret of the launch URL.
// It holds no image after a session: each frame is decoded to an ImageBitmap, drawn and closed at
// once, and on the verdict, a reset or a lost connection the canvas is cleared and shrunk to 0x0.
// No object URL or data URL is made. The MRZ form's values (personal data) live only in its inputs
// while the agent asks for them, and are cleared as soon as it stops asking or the socket closes.
import { translate } from './i18n.js';

const LANGS = ['zh-Hans', 'en'];
const GUIDANCE = new Set([
  'only_one_person',
  'move_closer',
  'move_back',
  'more_light',
  'less_light',
  'open_eyes',
  'uncover_face',
  'look_straight',
  'hold_still',
]);
const MRZ_FIELDS = ['documentNumber', 'birthDate', 'expiryDate'];
const DOCUMENT_STATES = ['show_page', 'present_document', 'reading', 'check_mrz', 'read_failed', 'done'];
// What each field accepts as it is typed (the agent validates again): A-Z/0-9 up to 9, digits up to 6.
const MRZ_FORMAT = {
  documentNumber: { drop: /[^A-Z0-9]/g, max: 9, valid: /^[A-Z0-9]{1,9}$/ },
  birthDate: { drop: /[^0-9]/g, max: 6, valid: /^[0-9]{6}$/ },
  expiryDate: { drop: /[^0-9]/g, max: 6, valid: /^[0-9]{6}$/ },
};

const state = {
  lang: 'zh-Hans',
  view: 'welcome',
  steps: [],
  prompt: null,
  progress: null,
  verdict: null,
  notice: null,
  connection: 'connecting',
  previewOn: false,
  // A remote-assistance call: null, 'joining' or 'connected' (shown over any view).
  assist: null,
  // The document step: { state, invalid: [field names] } while the view is 'document'.
  document: null,
};
const catalogues = {};
let socket = null;
let frameBusy = false;

const $ = (id) => document.getElementById(id);
const t = (key) => translate(catalogues, state.lang, key);

async function loadCatalogues() {
  await Promise.all(
    LANGS.map(async (lang) => {
      const res = await fetch(`/i18n/${lang}.json`, { cache: 'no-store' });
      catalogues[lang] = res.ok ? await res.json() : {};
    }),
  );
}

function render() {
  const body = document.body;
  document.documentElement.lang = state.lang;
  body.dataset.view = state.view;
  body.dataset.connection = state.connection;
  body.dataset.verdict = state.verdict ? state.verdict.verdict : '';
  body.dataset.assist = state.assist ?? '';
  body.dataset.document = state.document ? state.document.state : '';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll('.lang-btn')) b.setAttribute('aria-pressed', String(b.dataset.lang === state.lang));
  document.title = t('ui.title');

  const p = state.progress;
  $('phase').textContent = p
    ? p.phase === 'challenge' && p.totalSteps
      ? `${t('phase.challenge')} · ${Math.min(p.completedSteps + 1, p.totalSteps)} / ${p.totalSteps}`
      : t(`phase.${p.phase}`)
    : t('phase.waiting_face');
  const instruction = $('instruction');
  instruction.textContent = state.prompt ? t(`prompt.${state.prompt}`) : t('prompt.look_at_camera');
  instruction.classList.toggle('guidance', state.prompt !== null && GUIDANCE.has(state.prompt));
  instruction.dataset.prompt = state.prompt ?? '';

  const list = $('steps');
  list.replaceChildren(
    ...state.steps.map((kind, i) => {
      const li = document.createElement('li');
      li.dataset.n = String(i + 1);
      li.dataset.step = kind;
      const done = p ? p.completedSteps : 0;
      const inChallenge = p && p.phase === 'challenge';
      li.className = i < done ? 'done' : i === done && inChallenge ? 'current' : 'pending';
      li.textContent = t(`step.${kind}`);
      return li;
    }),
  );
  list.setAttribute('aria-label', t('ui.steps'));

  const v = state.verdict;
  $('verdict-title').textContent = v ? t(`ui.verdict_${v.verdict}`) : '';
  $('verdict-reason').textContent = v?.reasons.length ? t(`reason.${v.reasons[0]}`) : '';
  $('verdict-next').textContent = v ? t(`next.${v.next}`) : '';
  const d = state.document;
  $('document-state').textContent = d ? t(`document.${d.state}`) : '';
  for (const f of MRZ_FIELDS) {
    const bad = d?.invalid.includes(f) === true;
    const input = $(`mrz-${f}`);
    input.setAttribute('aria-invalid', String(bad));
    input.closest('.mrz-field').classList.toggle('invalid', bad);
  }
  $('mrz-invalid').textContent = d?.invalid.length ? t('mrz.invalid') : '';
  $('notice').textContent = state.notice ? t(state.notice) : '';
  $('assist').textContent = state.assist ? t(`ui.assist_${state.assist}`) : '';
  $('connection').textContent = state.connection === 'open' ? '' : t(state.connection === 'connecting' ? 'ui.connecting' : 'ui.disconnected');
}

/** Forgets the preview: no pixels left in the page. */
function dropPreview() {
  state.previewOn = false;
  const canvas = $('preview');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.width = 0;
  canvas.height = 0;
}

/** Empties the MRZ form: its values are personal data. */
function clearMrzForm() {
  for (const f of MRZ_FIELDS) $(`mrz-${f}`).value = '';
}

function onDocument(msg) {
  if (!DOCUMENT_STATES.includes(msg.state)) return;
  dropPreview();
  state.view = 'document';
  state.verdict = null;
  state.notice = null;
  const invalid = Array.isArray(msg.invalid) ? msg.invalid.filter((f) => MRZ_FIELDS.includes(f)) : [];
  state.document = { state: msg.state, invalid: msg.state === 'check_mrz' ? invalid : [] };
  if (msg.state !== 'check_mrz') return clearMrzForm();
  const fields = msg.fields && typeof msg.fields === 'object' ? msg.fields : {};
  for (const f of MRZ_FIELDS) $(`mrz-${f}`).value = typeof fields[f] === 'string' ? fields[f] : '';
  const first = invalid[0] ?? MRZ_FIELDS.find((f) => !$(`mrz-${f}`).value);
  if (first) $(`mrz-${first}`).focus();
}

async function showFrame(data) {
  // One frame at a time: a frame that arrives while the last is being decoded is skipped.
  if (!state.previewOn || frameBusy) return;
  frameBusy = true;
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(new Blob([data], { type: 'image/jpeg' }));
    if (!state.previewOn) return;
    const canvas = $('preview');
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
  } catch {
    // A frame that does not decode is skipped.
  } finally {
    bitmap?.close();
    frameBusy = false;
  }
}

function onMessage(msg) {
  switch (msg.type) {
    case 'hello':
    case 'language':
      if (LANGS.includes(msg.language)) state.lang = msg.language;
      break;
    case 'document':
      onDocument(msg);
      break;
    case 'session':
      clearMrzForm();
      state.document = null;
      state.view = 'session';
      state.steps = Array.isArray(msg.steps) ? msg.steps : [];
      state.prompt = null;
      state.progress = null;
      state.verdict = null;
      state.notice = null;
      state.previewOn = true;
      break;
    case 'prompt':
      state.prompt = msg.id;
      break;
    case 'progress':
      state.progress = { phase: msg.phase, completedSteps: msg.completedSteps, totalSteps: msg.totalSteps };
      break;
    case 'verdict':
      dropPreview();
      state.view = 'verdict';
      state.verdict = { verdict: msg.verdict, reasons: msg.reasons || [], next: msg.next };
      state.notice = null;
      break;
    case 'reset':
      dropPreview();
      clearMrzForm();
      Object.assign(state, { view: 'welcome', steps: [], prompt: null, progress: null, verdict: null, notice: null, document: null });
      break;
    case 'assist':
      state.assist = msg.state === 'joining' || msg.state === 'connected' ? msg.state : null;
      break;
    case 'refused':
      console.warn('agent refused a message:', msg.reason);
      return;
    default:
      return;
  }
  render();
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

// The socket's secret, from the launch URL's fragment (`#k=...`): the agent opens the socket only
// with it. A fragment never leaves the browser in a request or a Referer.
const secret = new URLSearchParams(location.hash.slice(1)).get('k') ?? '';

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws?k=${encodeURIComponent(secret)}`);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.onopen = () => {
    state.connection = 'open';
    render();
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      try {
        onMessage(JSON.parse(ev.data));
      } catch {
        // not JSON: ignored
      }
    } else {
      showFrame(ev.data);
    }
  };
  ws.onclose = () => {
    dropPreview();
    clearMrzForm(); // the agent sends the form again on reconnect if it still asks
    state.assist = null; // the agent says again on reconnect
    state.connection = 'closed';
    render();
    setTimeout(connect, 1000);
  };
}

function bind() {
  for (const b of document.querySelectorAll('.lang-btn')) {
    b.addEventListener('click', () => {
      state.lang = b.dataset.lang;
      render();
      send({ type: 'language', language: state.lang });
    });
  }
  $('help').addEventListener('click', () => {
    state.notice = 'ui.help_sent';
    render();
    send({ type: 'help' });
  });
  $('cancel').addEventListener('click', () => {
    state.notice = 'ui.cancel_sent';
    render();
    send({ type: 'cancel' });
  });
  for (const f of MRZ_FIELDS) {
    const input = $(`mrz-${f}`);
    input.addEventListener('input', () => {
      // Filtered before cut (no maxlength: it would cut a pasted "74-08-12" before the dashes go).
      const kept = input.value.toUpperCase().replace(MRZ_FORMAT[f].drop, '').slice(0, MRZ_FORMAT[f].max);
      if (kept !== input.value) input.value = kept;
      // A field the customer corrects is no longer marked.
      if (state.document?.invalid.includes(f)) {
        state.document.invalid = state.document.invalid.filter((x) => x !== f);
        render();
      }
    });
  }
  $('mrz-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.document?.state !== 'check_mrz') return;
    const entry = Object.fromEntries(MRZ_FIELDS.map((f) => [f, $(`mrz-${f}`).value]));
    const bad = MRZ_FIELDS.filter((f) => !MRZ_FORMAT[f].valid.test(entry[f]));
    if (bad.length) {
      state.document.invalid = bad;
      render();
      $(`mrz-${bad[0]}`).focus();
      return;
    }
    state.notice = 'mrz.sent';
    render();
    send({ type: 'mrz_entry', ...entry });
  });
  $('mrz-cancel').addEventListener('click', () => {
    state.notice = 'ui.cancel_sent';
    render();
    send({ type: 'cancel' });
  });
  // No context menu, no text selection: a kiosk touch screen.
  document.addEventListener('contextmenu', (e) => e.preventDefault());
}

await loadCatalogues();
bind();
render();
connect();
window.__screen = { state, ready: true };
