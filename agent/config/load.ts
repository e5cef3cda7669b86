/**
 * Loading the config: JSON file -> schema (types, ranges, unknown keys, defaults filled in) ->
 * the modules' own checks (pin map, kiosk pins, session thresholds, abuse limit). The first problem
 * refuses the start with E_CONFIG_INVALID naming the key, e.g. `camera.width` or `gpio.pins.tamper.line`.
 */
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { validatePinMap } from '../../device/gpio/gpio-port.js';
import { validateKioskPins } from '../../device/kiosk/config.js';
import { OPERATOR_NAME_PATTERN } from '../../protocol/names.js';
import { KioskError } from '../../base/errors.js';
import { createAbuseState } from '../session/abuse.js';
import { resolveSessionConfig } from '../session/config.js';
import { CALIBRATION } from '../../models/calibration.js';
import { configSchema } from './schema.js';
import type { KioskConfig } from './types.js';

let validator: ValidateFunction<KioskConfig> | undefined;

/** The schema's validator; a type guard for `KioskConfig` because the type is derived from the same schema. */
function compile(): ValidateFunction<KioskConfig> {
  if (validator) return validator;
  const ajv = new Ajv({ allErrors: false, strict: true, useDefaults: true });
  ajv.addKeyword({ keyword: 'unit', schemaType: 'string' });
  validator = ajv.compile<KioskConfig>(configSchema());
  return validator;
}

function keyOf(e: ErrorObject): string {
  const path = e.instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'additionalProperties') path.push(String((e.params as { additionalProperty: string }).additionalProperty));
  if (e.keyword === 'required') path.push(String((e.params as { missingProperty: string }).missingProperty));
  return path.join('.') || '(root)';
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return 'is not a setting';
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return e.message ?? 'is invalid';
}

function invalid(key: string, why: string): never {
  throw new KioskError('E_CONFIG_INVALID', `config key ${key} ${why}`, { subject: key });
}

/** Validates a parsed config object and fills in defaults; throws E_CONFIG_INVALID naming the first bad key. */
export function validateConfig(input: unknown): KioskConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid('(root)', 'must be a JSON object');
  const c: unknown = structuredClone(input);
  const validate = compile();
  if (!validate(c)) {
    const e = validate.errors![0];
    invalid(keyOf(e), describe(e));
  }
  for (const [name, pin] of Object.entries(c.gpio.pins)) {
    const l = pin.line as Record<string, unknown>;
    const forms = ['bcm' in l, 'chip' in l || 'offset' in l, 'name' in l].filter(Boolean).length;
    if (forms !== 1) invalid(`gpio.pins.${name}.line`, 'must be {"bcm": N}, {"chip": "<label>", "offset": N} or {"name": "<line name>"} (gpiod driver)');
    if ('name' in l && c.gpio.driver !== 'gpiod') invalid(`gpio.pins.${name}.line`, `a line given by name needs gpio.driver "gpiod" (not "${c.gpio.driver}")`);
  }
  validatePinMap(c.gpio.pins);
  validateKioskPins(c.gpio.pins);
  if (c.dispenser.confirmTimeoutMs < c.dispenser.pulseMs) invalid('dispenser.confirmTimeoutMs', 'must be at least dispenser.pulseMs');
  c.session = resolveSessionConfig(c.session);
  const calibratedPad = [...CALIBRATION.padModels.value].sort().join(',');
  const rawSession = (input as { session?: Record<string, unknown> }).session;
  if ([...c.engine.padModels].sort().join(',') !== calibratedPad && typeof rawSession?.maxAttackScore !== 'number')
    invalid(
      'session.maxAttackScore',
      `is required when engine.padModels is not the calibrated set (${calibratedPad}): the calibrated threshold belongs to that set`,
    );
  createAbuseState(c.abuse);
  if (c.camera.restartCapMs < c.camera.restartBaseMs) invalid('camera.restartCapMs', 'must be at least camera.restartBaseMs');
  if ((c.camera.kind === 'replay' || c.camera.kind === 'ffmpeg') && !c.camera.path) invalid('camera.path', `is required for camera.kind "${c.camera.kind}"`);
  if (c.camera.kind === 'gstreamer' && !c.camera.pipeline.trim()) invalid('camera.pipeline', 'is required for camera.kind "gstreamer"');
  if (c.transport.url && !/^mqtts:\/\/[^\s/]+/.test(c.transport.url)) invalid('transport.url', 'must be an mqtts:// URL (mutual TLS)');
  if (c.keyStore.kind === 'pkcs11' && !c.keyStore.pkcs11Module) invalid('keyStore.pkcs11Module', 'is required for keyStore.kind "pkcs11"');
  if (c.keyStore.kind === 'pkcs11' && !c.keyStore.token) invalid('keyStore.token', 'is required for keyStore.kind "pkcs11"');
  if (c.transport.backoffBaseMs > c.transport.backoffCapMs) invalid('transport.backoffCapMs', 'must be at least transport.backoffBaseMs');
  c.assist.operators.forEach((o, i) => {
    if (!OPERATOR_NAME_PATTERN.test(o.id)) invalid(`assist.operators.${i}.id`, 'must be an operator name (carrier-op-<name>)');
  });
  if (c.assist.enabled && c.assist.operators.length === 0) invalid('assist.operators', 'must name at least one operator when assist.enabled');
  if (c.assist.enabled && !c.transport.url) invalid('assist.enabled', 'needs a broker (transport.url): signalling goes over MQTT');
  if (c.document.reader === 'pcsc' && !c.document.cscaDir && c.document.masterLists.length === 0)
    invalid('document.cscaDir', 'or document.masterLists is required for document.reader "pcsc" (whom to trust)');
  if (c.document.reader === 'pcsc' && !c.screen.enabled)
    invalid('document.reader', '"pcsc" needs the customer screen (screen.enabled): the MRZ is entered there');
  if (c.update.enabled && c.update.releaseKeys.length === 0) invalid('update.releaseKeys', 'is required when update.enabled (whose releases to install)');
  if (c.update.aptUrl && !c.update.aptKeyring) invalid('update.aptKeyring', 'is required with update.aptUrl (apt checks the repository with it)');
  if (c.update.window && !/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(c.update.window))
    invalid('update.window', 'must be HH:MM-HH:MM (local time), e.g. 22:00-06:00');
  if (c.document.reader === 'cn-id' && !c.document.serialPath) invalid('document.serialPath', 'is required for document.reader "cn-id"');
  if (c.gpio.driver === 'fake' && !c.simulate) invalid('gpio.driver', 'may be "fake" only on a simulated kiosk (simulate: true)');
  return c;
}

/** Reads and validates a JSON config file. */
export async function loadConfigFile(path: string, overrides: (raw: Record<string, unknown>) => void = () => {}): Promise<KioskConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the config file: ${(err as Error).message}`, { subject: path, cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `the config file is not JSON: ${(err as Error).message}`, { subject: path, cause: err });
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) overrides(raw as Record<string, unknown>);
  return validateConfig(raw);
}
