/**
 * The customer screen's WebSocket protocol (version 1). The agent sends JSON text messages
 * (`ScreenMessage`) and binary messages (one JPEG preview frame each); the page sends JSON text
 * messages (`PageMessage`) that are validated here before anything acts on them.
 * No score, image or embedding is ever part of a text message: the page shows ids, the
 * catalogue on the page owns the wording.
 */
import type { Phase, PromptId, ReasonCode, StepKind, Verdict } from '../session/types.js';
import { STEP_KINDS } from '../session/types.js';
import { MRZ_KEY_FIELDS, type MrzKeyField, type MrzKeyFields } from '../../device/document/mrz.js';
import { REASON_CODES } from '../../protocol/verdict.js';

export const PROTOCOL_VERSION = 1;

/** Languages the page offers; the first is the default. */
export const LANGUAGES = ['zh-Hans', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

/** What happens after the verdict, as the screen tells the customer. */
export type NextStep = 'collect_sim' | 'try_again' | 'see_staff' | 'come_back_later';

/** A remote-assistance call, as the customer sees it: an operator is joining, is connected, or has left. */
export type AssistState = 'joining' | 'connected' | 'ended';

/** Agent -> page. */
export type ScreenMessage =
  | { type: 'hello'; protocol: number; languages: readonly Language[]; language: Language }
  | { type: 'session'; steps: StepKind[] }
  | { type: 'prompt'; id: PromptId }
  | { type: 'progress'; phase: Phase; completedSteps: number; totalSteps: number }
  | { type: 'verdict'; verdict: Verdict; reasons: ReasonCode[]; next: NextStep }
  | { type: 'reset' }
  | { type: 'language'; language: Language }
  | { type: 'assist'; state: AssistState }
  | DocumentMessage
  | { type: 'refused'; reason: string };

/** Where reading the customer's ID document is, as the screen shows it. */
export type DocumentState = 'show_page' | 'present_document' | 'reading' | 'check_mrz' | 'read_failed' | 'done';
export const DOCUMENT_STATES = ['show_page', 'present_document', 'reading', 'check_mrz', 'read_failed', 'done'] as const satisfies readonly DocumentState[];

/**
 * Agent -> page: the document step. `fields` only with `check_mrz` (what OCR read, for the customer
 * to correct); `invalid` names the fields whose check digit (or format) was refused.
 */
export type DocumentMessage = { type: 'document'; state: DocumentState; fields?: MrzKeyFields; invalid?: MrzKeyField[] };

/** Page -> agent. `mrz_entry` is the customer's (corrected) MRZ fields, only while the agent asks for them. */
export type PageMessage = { type: 'language'; language: Language } | { type: 'cancel' } | { type: 'help' } | ({ type: 'mrz_entry' } & MrzKeyFields);

/** Longest page message accepted, bytes (a socket that sends more than 8x this is closed by `ws`). */
export const MAX_PAGE_MESSAGE_BYTES = 512;

export type ParseResult = { ok: true; message: PageMessage } | { ok: false; reason: string };

const isLanguage = (x: unknown): x is Language => typeof x === 'string' && (LANGUAGES as readonly string[]).includes(x);

/** The shape of each MRZ field on the wire (the calendar check is `accessKeyFromFields`'s). */
const MRZ_FIELD_FORMAT: Readonly<Record<MrzKeyField, { re: RegExp; says: string }>> = {
  documentNumber: { re: /^[A-Z0-9]{1,9}$/, says: '1-9 characters A-Z or 0-9' },
  birthDate: { re: /^[0-9]{6}$/, says: '6 digits (YYMMDD)' },
  expiryDate: { re: /^[0-9]{6}$/, says: '6 digits (YYMMDD)' },
};

/** Validates one message from the page; the reason names what is wrong (never echoes the content). */
export function parsePageMessage(raw: Buffer | string, isBinary = false): ParseResult {
  if (isBinary) return { ok: false, reason: 'binary messages are not accepted' };
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (Buffer.byteLength(text) > MAX_PAGE_MESSAGE_BYTES) return { ok: false, reason: `message longer than ${MAX_PAGE_MESSAGE_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  const msg = value as Record<string, unknown>;
  const keys = Object.keys(msg);
  const only = (allowed: string[]) => keys.filter((k) => !allowed.includes(k));
  switch (msg.type) {
    case 'language': {
      if (!isLanguage(msg.language)) return { ok: false, reason: `language must be one of ${LANGUAGES.join(', ')}` };
      const extra = only(['type', 'language']);
      if (extra.length) return { ok: false, reason: `unexpected field(s) ${extra.join(', ')}` };
      return { ok: true, message: { type: 'language', language: msg.language } };
    }
    case 'cancel':
    case 'help': {
      const extra = only(['type']);
      if (extra.length) return { ok: false, reason: `unexpected field(s) ${extra.join(', ')}` };
      return { ok: true, message: { type: msg.type } };
    }
    case 'mrz_entry': {
      // Counted, not named: a key of this message could be the customer's data typed in the wrong place.
      const extra = only(['type', ...MRZ_KEY_FIELDS]);
      if (extra.length) return { ok: false, reason: `${extra.length} unexpected field(s)` };
      for (const name of MRZ_KEY_FIELDS) {
        const v = msg[name];
        if (typeof v !== 'string') return { ok: false, reason: `${name} must be a string` };
        const f = MRZ_FIELD_FORMAT[name];
        if (!f.re.test(v)) return { ok: false, reason: `${name} must be ${f.says}` };
      }
      const m = msg as Record<MrzKeyField, string>;
      return { ok: true, message: { type: 'mrz_entry', documentNumber: m.documentNumber, birthDate: m.birthDate, expiryDate: m.expiryDate } };
    }
    default:
      return { ok: false, reason: typeof msg.type === 'string' ? 'unknown message type' : 'missing type' };
  }
}

/** The next step the screen announces for a verdict. */
export function nextStepOf(verdict: Verdict, reasons: readonly ReasonCode[]): NextStep {
  if (verdict === 'accept') return 'collect_sim';
  if (reasons.includes('attempts_exceeded')) return 'come_back_later';
  return verdict === 'retry' ? 'try_again' : 'see_staff';
}

/** Every prompt id, at run time (the compile-time check below keeps it complete). */
export const PROMPT_IDS = [
  'look_at_camera',
  'only_one_person',
  'move_closer',
  'move_back',
  'more_light',
  'less_light',
  'look_straight',
  'hold_still',
  'open_eyes',
  'uncover_face',
  'blink',
  'turn_left',
  'turn_right',
  'look_up',
  'look_down',
  'please_wait',
] as const satisfies readonly PromptId[];
type MissingPrompt = Exclude<PromptId, (typeof PROMPT_IDS)[number]>;
const promptsComplete: MissingPrompt extends never ? true : false = true;
void promptsComplete;

/** Every reason code, at run time (one list with the result and the carrier's metrics). */
export { REASON_CODES };

export const PHASES = ['waiting_face', 'quality_gate', 'challenge', 'final_capture', 'deciding', 'done'] as const satisfies readonly Phase[];
export const NEXT_STEPS = ['collect_sim', 'try_again', 'see_staff', 'come_back_later'] as const satisfies readonly NextStep[];

/** Labels of the page itself (buttons, headings). */
export const UI_KEYS = [
  'title',
  'welcome',
  'welcome_hint',
  'language',
  'help',
  'help_sent',
  'cancel',
  'cancel_sent',
  'steps',
  'verdict_accept',
  'verdict_reject',
  'verdict_retry',
  'connecting',
  'disconnected',
  'face_guide',
  'assist_joining',
  'assist_connected',
] as const;

/** Labels of the MRZ form (its fields are `mrz.<field>`). */
export const MRZ_UI_KEYS = ['hint', 'date_hint', 'invalid', 'confirm', 'cancel', 'sent'] as const;

/**
 * Every key a catalogue must hold: `prompt.<id>`, `step.<kind>`, `phase.<p>`, `reason.<code>`,
 * `next.<n>`, `ui.<key>`, `document.<state>`, `mrz.<field or label>`.
 */
export function catalogueKeys(): string[] {
  return [
    ...PROMPT_IDS.map((k) => `prompt.${k}`),
    ...STEP_KINDS.map((k) => `step.${k}`),
    ...PHASES.map((k) => `phase.${k}`),
    ...REASON_CODES.map((k) => `reason.${k}`),
    ...NEXT_STEPS.map((k) => `next.${k}`),
    ...UI_KEYS.map((k) => `ui.${k}`),
    ...DOCUMENT_STATES.map((k) => `document.${k}`),
    ...[...MRZ_KEY_FIELDS, ...MRZ_UI_KEYS].map((k) => `mrz.${k}`),
  ];
}
