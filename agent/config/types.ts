/**
 * The daemon config types, derived from the schema (schema.ts, which also holds each key's doc, unit
 * and default): nothing here can disagree with what the loader validates.
 */
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import type { configSchema } from './schema.js';

/**
 * A validated value of schema `T`. Settings objects come out complete: every setting is optional in
 * a file but has a default that ajv (useDefaults) fills in, so their keys are required here. Only
 * settings objects are TypeBox objects directly under one another; data inside a setting (pin map
 * entries, operators, ICE servers) sits in an array or a typed `Unsafe` and keeps its own optional keys.
 */
type Filled<T extends TSchema> = T extends TObject<infer P> ? { -readonly [K in keyof P]: Filled<P[K]> } : Static<T>;

/** The daemon config after validation and defaults. */
export interface KioskConfig extends Filled<ReturnType<typeof configSchema>> {}

/** A config file as written: any subset of the keys. */
export type KioskConfigInput = { [K in keyof KioskConfig]?: KioskConfig[K] extends object ? Partial<KioskConfig[K]> : KioskConfig[K] };
