/**
 * The `session` and `abuse` parts of the config schema, derived from the session module's tables
 * (`SESSION_KEYS`, `ABUSE_KEYS`): type, default, unit and description of each key, nothing repeated
 * here. Ranges stay out of the JSON Schema on purpose: `resolveSessionConfig` and `createAbuseState`,
 * which the loader runs after the schema, check them with messages that give the range and the value.
 */
import { type TUnsafe, Type } from '@sinclair/typebox';
import { ABUSE_KEYS, type AbuseConfig } from '../session/abuse.js';
import { SESSION_KEYS, type SessionConfig } from '../session/config.js';
import type { Setting, SettingTable, SettingValues } from '../session/setting-table.js';
import type { JsonSchema } from './schema-types.js';

function entry(s: Setting): JsonSchema {
  const doc = { default: s.default, unit: s.unit, description: s.description };
  switch (s.kind) {
    case 'number':
      return { type: s.integer ? 'integer' : 'number', ...doc };
    case 'boolean':
      return { type: 'boolean', ...doc };
    case 'enum':
      return { type: 'string', ...doc, enum: [...s.values] };
  }
}

function properties(table: SettingTable): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(table).map(([key, s]) => [key, entry(s)]));
}

/**
 * An object of settings typed as the config the table describes. `Type.Unsafe` because its
 * properties are built by a loop over the table, which TypeBox cannot type; the type is derived from
 * the same table, so the two cannot drift.
 */
function group<T extends SettingTable>(description: string, table: T): TUnsafe<SettingValues<T>> {
  return Type.Unsafe<SettingValues<T>>({ type: 'object', additionalProperties: false, default: {}, description, properties: properties(table) });
}

/** The `session` object: the verification session's thresholds. */
export function sessionSchema(): TUnsafe<SessionConfig> {
  return group('verification session thresholds (agent/session/config.ts; ranges checked by resolveSessionConfig)', SESSION_KEYS);
}

/** The `abuse` object: failed attempts per ID portrait. */
export function abuseSchema(): TUnsafe<AbuseConfig> {
  return group('abuse limit: failed sessions per ID portrait before a cool-down', ABUSE_KEYS);
}
