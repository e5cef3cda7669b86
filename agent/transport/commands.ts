/**
 * Carrier commands on `cmd/<name>`: each is a token signed by a carrier command key
 * (protocol/command.ts, checked by command-auth.ts), whose `args` are validated against a JSON
 * schema; answered on the MQTT 5 response topic with the correlation data. An unsigned, replayed,
 * expired, foreign, malformed, unknown or unauthorised command is refused with a reason (and
 * logged); it never reaches a handler.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from '../../base/log.js';
import type { CommandAuthRefusal } from './command-auth.js';
import type { IncomingCommand } from './mqtt-transport.js';
import { UPDATE_JOB_SCHEMA, type UpdateJobArgs } from '../../protocol/update.js';

/** Command bodies. */
export interface StartSession {
  nonce: string;
  session_id?: string;
  expires_at?: number;
  /** Path on the device of the ID portrait (image, or clip.mp4#frame=N) when no document reader hands it over. */
  reference?: string;
}
/** Puts a kiosk that was taken out of service (tamper) back in service. */
export interface ClearAlarm {
  note?: string;
}
/** Dispense for the accepted result `jti` of session `session_id` (its `session_id`, or `assist_id` for an operator's decision). */
export interface AuthorizeDispense {
  jti: string;
  session_id: string;
  slot?: number;
}
export interface ConfigCommand {
  settings: Record<string, unknown>;
}
/** Opens a remote-assistance call to a carrier operator; `nonce` (carrier hex) goes into the operator-decided result. */
export interface AssistStart {
  nonce: string;
  session_id?: string;
  failed_checks?: string[];
  reason?: string;
}

/** Why a command was refused. */
export type RefusalReason =
  | CommandAuthRefusal
  | 'not_current'
  | 'malformed'
  | 'schema'
  | 'unknown_command'
  | 'bad_response_topic'
  | 'unknown_result'
  | 'not_accepted'
  | 'busy'
  | 'handler_error'
  | 'expired'
  | 'already_used'
  | 'out_of_service'
  | 'no_reference'
  | 'still_open';

/** What handlers return: a body for the reply, or a refusal. */
export type CommandOutcome = { ok: true; body?: Record<string, unknown> } | { ok: false; reason: RefusalReason; detail: string };

/** Application handlers (the session runner, the dispenser, the config store). */
export interface CommandHandlers {
  start_session(cmd: StartSession): Promise<CommandOutcome>;
  /** Called only when `jti` names a result of this device whose verdict was accept. */
  authorize_dispense(cmd: AuthorizeDispense): Promise<CommandOutcome>;
  config(cmd: ConfigCommand): Promise<CommandOutcome>;
  /** Optional: without it `clear_alarm` is an unknown command. */
  clear_alarm?(cmd: ClearAlarm): Promise<CommandOutcome>;
  /** Optional: without it `assist_start` is an unknown command (see agent/assist). */
  assist_start?(cmd: AssistStart): Promise<CommandOutcome>;
  /** Optional: without it (`update.enabled` false) `update` is an unknown command (protocol/update.ts). */
  update?(cmd: UpdateJobArgs): Promise<CommandOutcome>;
}

export interface CommandRouterDeps {
  transport: {
    readonly events: { on(e: 'command', fn: (c: IncomingCommand) => void): unknown; off(e: 'command', fn: (c: IncomingCommand) => void): unknown };
    readonly topics: { replyPrefix: string };
    reply(c: IncomingCommand, body: Record<string, unknown>): Promise<void>;
  };
  handlers: CommandHandlers;
  /** The verdict of a result this device signed, by jti (undefined when unknown). */
  resultVerdict(jti: string): Promise<string | undefined>;
  /** Checks each command's signature, audience, validity and single use (command-auth.ts). */
  auth: {
    verify(
      name: string,
      payload: Buffer,
    ): Promise<{ ok: true; claims: { args: Record<string, unknown> } } | { ok: false; reason: CommandAuthRefusal; detail: string }>;
  };
  logger: Logger;
}

const SCHEMAS = {
  start_session: {
    type: 'object',
    additionalProperties: false,
    required: ['nonce'],
    properties: {
      nonce: { type: 'string', pattern: '^[0-9a-f]{32,128}$' },
      session_id: { type: 'string', maxLength: 128 },
      expires_at: { type: 'integer', minimum: 0 },
      reference: { type: 'string', minLength: 1, maxLength: 4096 },
    },
  },
  authorize_dispense: {
    type: 'object',
    additionalProperties: false,
    required: ['jti', 'session_id'],
    properties: {
      jti: { type: 'string', minLength: 1, maxLength: 128 },
      session_id: { type: 'string', minLength: 1, maxLength: 128 },
      slot: { type: 'integer', minimum: 0, maximum: 63 },
    },
  },
  config: {
    type: 'object',
    additionalProperties: false,
    required: ['settings'],
    properties: { settings: { type: 'object', maxProperties: 64 } },
  },
  clear_alarm: {
    type: 'object',
    additionalProperties: false,
    properties: { note: { type: 'string', maxLength: 256 } },
  },
  assist_start: {
    type: 'object',
    additionalProperties: false,
    required: ['nonce'],
    properties: {
      nonce: { type: 'string', pattern: '^[0-9a-f]{32,128}$' },
      session_id: { type: 'string', maxLength: 128 },
      failed_checks: { type: 'array', maxItems: 16, items: { type: 'string', pattern: '^[a-z0-9_]{1,64}$' } },
      reason: { type: 'string', maxLength: 256 },
    },
  },
  update: UPDATE_JOB_SCHEMA,
} as const;

type Name = keyof typeof SCHEMAS;

/** Validates and dispatches commands; one instance per transport. */
export class CommandRouter {
  private validators?: Record<Name, ValidateFunction>;
  private readonly onCommand = (c: IncomingCommand): void => {
    void this.handle(c);
  };

  constructor(private readonly deps: CommandRouterDeps) {}

  async start(): Promise<void> {
    const ajv = new Ajv({ allErrors: false, strict: true });
    this.validators = Object.fromEntries(Object.entries(SCHEMAS).map(([k, s]) => [k, ajv.compile(s)])) as Record<Name, ValidateFunction>;
    this.deps.transport.events.on('command', this.onCommand);
  }

  async stop(): Promise<void> {
    this.deps.transport.events.off('command', this.onCommand);
  }

  /** Handles one command and replies; returns the outcome (tests call it directly). */
  async handle(c: IncomingCommand): Promise<CommandOutcome> {
    const outcome = await this.decide(c);
    const log = { command: c.name, ...(outcome.ok ? {} : { reason: outcome.reason, detail: outcome.detail }) };
    if (outcome.ok) this.deps.logger.info(log, 'command accepted');
    else this.deps.logger.warn(log, 'command refused');
    if (c.responseTopic?.startsWith(this.deps.transport.topics.replyPrefix) && !/[+#]/.test(c.responseTopic)) {
      const body = outcome.ok
        ? { ok: true, command: c.name, ...outcome.body }
        : { ok: false, command: c.name, code: 'E_COMMAND_INVALID', reason: outcome.reason, detail: outcome.detail };
      await this.deps.transport.reply(c, body).catch((err: Error) => this.deps.logger.warn({ err: { message: err.message } }, 'could not reply to a command'));
    }
    return outcome;
  }

  private async decide(c: IncomingCommand): Promise<CommandOutcome> {
    const refuse = (reason: RefusalReason, detail: string): CommandOutcome => ({ ok: false, reason, detail });
    if (c.responseTopic !== undefined && (!c.responseTopic.startsWith(this.deps.transport.topics.replyPrefix) || /[+#]/.test(c.responseTopic))) {
      return refuse('bad_response_topic', `response topic must be under ${this.deps.transport.topics.replyPrefix}`);
    }
    if (!(c.name in SCHEMAS)) return refuse('unknown_command', `no command named ${JSON.stringify(c.name.slice(0, 64))}`);
    const name = c.name as Name;
    const signed = await this.deps.auth.verify(name, c.payload);
    if (!signed.ok) return refuse(signed.reason, signed.detail);
    const body: unknown = signed.claims.args;
    const validate = this.validators![name];
    if (!validate(body)) {
      const e = validate.errors?.[0];
      return refuse('schema', `${e?.instancePath || '/'} ${e?.message ?? 'invalid'}`);
    }
    try {
      if (name === 'authorize_dispense') {
        const { jti } = body as AuthorizeDispense;
        const verdict = await this.deps.resultVerdict(jti);
        if (verdict === undefined) return refuse('unknown_result', 'no result of this device has this jti');
        if (verdict !== 'accept') return refuse('not_accepted', `the result's verdict is ${verdict}`);
        return await this.deps.handlers.authorize_dispense(body as AuthorizeDispense);
      }
      if (name === 'start_session') return await this.deps.handlers.start_session(body as StartSession);
      if (name === 'clear_alarm') {
        const clear = this.deps.handlers.clear_alarm;
        return clear ? await clear.call(this.deps.handlers, body as ClearAlarm) : refuse('unknown_command', 'clear_alarm is not handled here');
      }
      if (name === 'assist_start') {
        const assist = this.deps.handlers.assist_start;
        return assist ? await assist.call(this.deps.handlers, body as AssistStart) : refuse('unknown_command', 'assist_start is not handled here');
      }
      if (name === 'update') {
        const update = this.deps.handlers.update;
        return update ? await update.call(this.deps.handlers, body as UpdateJobArgs) : refuse('unknown_command', 'update is not handled here (update.enabled)');
      }
      return await this.deps.handlers.config(body as ConfigCommand);
    } catch (err) {
      return refuse('handler_error', (err as Error).message);
    }
  }
}
