/**
 * A table of settings: one entry per key with its default, unit, one-line description and valid
 * values. The session and abuse configs are each written once as such a table, and everything else
 * is derived from it: the TypeScript type, the defaults, the range checks, the config schema entries
 * (agent/config/session-keys.ts) and the README table (issue 11). The helpers require a unit and a
 * description, so a key cannot be added without them.
 *
 * The longer explanation of a key (why this value, on which data) is the doc comment on its entry;
 * the derived type maps over the table's keys, so editors show that comment on the config's fields.
 */

/** A number within [min, max] (both inclusive); `integer` also refuses fractions. */
export interface NumberSetting {
  readonly kind: 'number';
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  readonly unit: string;
  readonly description: string;
}

export interface BooleanSetting {
  readonly kind: 'boolean';
  readonly default: boolean;
  readonly unit: '-';
  readonly description: string;
}

/** One of a few words; the config's type is their literal union. */
export interface EnumSetting<V extends string = string> {
  readonly kind: 'enum';
  readonly default: V;
  readonly values: readonly V[];
  readonly unit: '-';
  readonly description: string;
}

export type Setting = NumberSetting | BooleanSetting | EnumSetting;
export type SettingTable = Readonly<Record<string, Setting>>;

/** The config a table describes: each key has the type of its default (number, boolean or the enum's union). */
export type SettingValues<T extends SettingTable> = { -readonly [K in keyof T]: T[K]['default'] };

/** A number setting, e.g. `num(20, [1, 90], 'degrees', 'yaw to reach for turn_left / turn_right')`. */
export function num(def: number, [min, max]: readonly [number, number], unit: string, description: string): NumberSetting {
  return { kind: 'number', default: def, min, max, integer: false, unit, description };
}

/** A whole-number setting (frames, counts). */
export function int(def: number, [min, max]: readonly [number, number], unit: string, description: string): NumberSetting {
  return { kind: 'number', default: def, min, max, integer: true, unit, description };
}

export function bool(def: boolean, description: string): BooleanSetting {
  return { kind: 'boolean', default: def, unit: '-', description };
}

/** A word out of `values`; the default must be one of them (checked by the compiler). */
export function oneOf<const V extends string>(values: readonly V[], def: NoInfer<V>, description: string): EnumSetting<V> {
  return { kind: 'enum', default: def, values, unit: '-', description };
}

/** The defaults of a table, frozen. */
export function defaultsOf<T extends SettingTable>(table: T): Readonly<SettingValues<T>> {
  const defaults: Partial<Record<keyof T, Setting['default']>> = {};
  for (const key of Object.keys(table) as (keyof T & string)[]) defaults[key] = table[key].default;
  return Object.freeze(defaults as SettingValues<T>);
}

/**
 * What is wrong with `value` for `setting` (the end of a sentence naming the key), or null:
 * `must be a number, got x`, `must be within [lo, hi], got x`, `must be an integer, got x`,
 * `must be true or false`, `must be "a" or "b", got x`.
 */
export function settingProblem(setting: Setting, value: unknown): string | null {
  switch (setting.kind) {
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a number, got ${String(value)}`;
      if (value < setting.min || value > setting.max) return `must be within [${setting.min}, ${setting.max}], got ${value}`;
      if (setting.integer && !Number.isInteger(value)) return `must be an integer, got ${value}`;
      return null;
    }
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false';
    case 'enum':
      return setting.values.some((v) => v === value) ? null : `must be ${setting.values.map((v) => `"${v}"`).join(' or ')}, got ${String(value)}`;
  }
}
