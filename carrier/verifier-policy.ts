/**
 * The carrier's verifier policy: the model sets and agent versions it accepts in a result's
 * `measurements` and `swversion`, whether a build with debugging on is refused (`dbgstat`), and the
 * operators who may decide a result after a remote-assistance call, and what the reference portrait must
 * have been proven to be (read from the document's chip, passive and chip authentication). Read from a JSON file (checked
 * here; an error names the key), or built from a kiosk's own measurements; `carrier policy init`
 * writes a starting point for the models a checkout ships (models/manifest.json).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { KioskError } from '../base/errors.js';
import type { Measurement, ResultClaims } from '../protocol/eat.js';
import { parseCompact } from '../protocol/jws.js';
import { OPERATOR_NAME_PATTERN } from '../protocol/names.js';
import type { ReferenceClaims } from '../protocol/reference.js';

const MODEL = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 256 }), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) },
  { additionalProperties: false },
);

const POLICY = Type.Object(
  {
    /** Format version of the file. */
    schema: Type.Literal(1),
    /**
     * Model sets a kiosk may run: every model a result measures must be in one and the same set
     * (a kiosk loads some of a release's models, never models of two releases).
     */
    modelSets: Type.Array(Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }), models: Type.Array(MODEL) }, { additionalProperties: false }), {
      minItems: 1,
    }),
    /** Agent versions (`swversion`) accepted. */
    swversions: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1 }),
    /** Refuse a result whose `dbgstat` says debugging is enabled (every RFC 9711 value but `enabled` is production). */
    refuseDebug: Type.Boolean(),
    /** Refuse a result that does not report `dbgstat` at all. */
    requireDbgstat: Type.Boolean(),
    /** Operators (carrier-op-<name>) who may decide a result after a remote-assistance call; empty: none may. */
    operators: Type.Array(Type.String({ pattern: OPERATOR_NAME_PATTERN.source })),
    /** What the reference portrait must have been proven to be (absent: any source, a page photo too). */
    reference: Type.Optional(
      Type.Object(
        {
          /** `chip`: only a portrait read from the document's chip counts; `any`: a photo of the page too. */
          requireSource: Type.Union([Type.Literal('chip'), Type.Literal('any')]),
          /** A chip portrait must have passed ICAO passive authentication (signature of a trusted state). */
          requirePassiveAuth: Type.Boolean(),
          /** Accept a card the reader's own security module authenticated (China's resident ID) as passive authentication. */
          acceptReaderSam: Type.Boolean(),
          /** The chip must have proven its key (chip or active authentication): refuses chips that offer no proof. */
          requireChipAuth: Type.Boolean(),
          /** Issuing states accepted (ICAO codes); absent: any state the kiosk's trust store vouches for. */
          issuingStates: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z<]{1,3}$' }), { minItems: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A verifier policy as the file holds it. */
export type VerifierPolicy = Static<typeof POLICY>;

/** Why the policy refuses a result (a subset of the verifier's reject reasons). */
export type PolicyReason = 'unknown_measurements' | 'unknown_swversion' | 'debug_build' | 'unknown_operator' | 'reference_not_accepted';

/** A refusal with a detail for the log. */
export interface PolicyProblem {
  reason: PolicyReason;
  detail: string;
}

let validator: ReturnType<Ajv['compile']> | undefined;

/** Checks a decoded policy; throws E_CONFIG_INVALID naming the first bad key (`policy.<path>`). */
export function parseVerifierPolicy(value: unknown, source = 'policy'): VerifierPolicy {
  validator ??= new Ajv({ allErrors: false, strict: true }).compile(POLICY);
  if (!validator(value)) {
    const e = validator.errors?.[0];
    throw new KioskError('E_CONFIG_INVALID', `verifier policy ${source}: ${where(e)} ${e?.message ?? 'is invalid'}`, { subject: where(e) });
  }
  return value as VerifierPolicy;
}

/** Reads and checks a policy file. */
export async function loadVerifierPolicy(path: string): Promise<VerifierPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `cannot read the verifier policy: ${(err as Error).message}`, { subject: path, cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KioskError('E_CONFIG_INVALID', `the verifier policy is not JSON: ${(err as Error).message}`, { subject: path, cause: err });
  }
  return parseVerifierPolicy(value, path);
}

function where(e: ErrorObject | undefined): string {
  if (!e) return 'policy';
  const extra =
    (e.params as { additionalProperty?: string; missingProperty?: string }).additionalProperty ?? (e.params as { missingProperty?: string }).missingProperty;
  return ['policy', ...e.instancePath.split('/').filter(Boolean), ...(extra ? [extra] : [])].join('.');
}

/** What a policy is built from: one kiosk's measurements and version, plus the carrier's choices. */
export interface PolicyInput {
  /** Name of the model set (e.g. the release). */
  name: string;
  models: { id: string; sha256: string }[];
  swversion: string;
  operators?: string[];
  /** Default true. */
  refuseDebug?: boolean;
  /** Default true: the agent reports `dbgstat` in every result. */
  requireDbgstat?: boolean;
  /** What the reference portrait must be (default: no requirement). */
  reference?: VerifierPolicy['reference'];
}

/** A policy accepting one model set and one agent version (checked like a file). */
export function buildPolicy(o: PolicyInput): VerifierPolicy {
  return parseVerifierPolicy({
    schema: 1,
    modelSets: [{ name: o.name, models: o.models.map((m) => ({ id: m.id, sha256: m.sha256 })) }],
    swversions: [o.swversion],
    refuseDebug: o.refuseDebug ?? true,
    requireDbgstat: o.requireDbgstat ?? true,
    operators: o.operators ?? [],
    ...(o.reference ? { reference: o.reference } : {}),
  });
}

/** The model entries of a kiosk's measurements (those with a sha256; the agent's own entry has a version). */
export function modelMeasurements(measurements: readonly Measurement[]): { id: string; sha256: string }[] {
  return measurements.filter((m): m is Measurement & { sha256: string } => typeof m.sha256 === 'string').map((m) => ({ id: m.id, sha256: m.sha256 }));
}

/**
 * Every model of a manifest (models/manifest.json) as the kiosk reports it: the file's sha256, or
 * for several files the sha256 over their sha256s in order (models/manifest.ts `modelDigest`, which
 * the carrier cannot import; test/unit/verifier-policy.test.ts checks that both agree).
 */
export function manifestModels(manifest: unknown): { id: string; sha256: string }[] {
  const models = (manifest as { models?: unknown })?.models;
  if (!Array.isArray(models)) throw new KioskError('E_MODEL_MANIFEST', 'the manifest has no models array', { subject: 'models' });
  return models.map((m: { id?: unknown; files?: { sha256?: unknown }[] }, i) => {
    const files = Array.isArray(m?.files) ? m.files : [];
    if (typeof m?.id !== 'string' || files.length === 0 || !files.every((f) => typeof f?.sha256 === 'string'))
      throw new KioskError('E_MODEL_MANIFEST', 'a manifest model needs an id and files with sha256', { subject: `models.${i}` });
    const shas = files.map((f) => f.sha256 as string);
    const h = createHash('sha256');
    for (const s of shas) h.update(s);
    return { id: m.id, sha256: shas.length === 1 ? shas[0] : h.digest('hex') };
  });
}

/** Compiles a policy into a check of one result's claims: undefined when the policy accepts them. */
export function policyCheck(policy: VerifierPolicy): (claims: ResultClaims) => PolicyProblem | undefined {
  const sets = policy.modelSets.map((s) => ({ name: s.name, keys: new Set(s.models.map((m) => `${m.id} ${m.sha256}`)) }));
  const versions = new Set(policy.swversions);
  const operators = new Set(policy.operators);
  return (claims) =>
    swversionProblem(claims, versions) ??
    modelProblem(claims, sets) ??
    debugProblem(claims, policy) ??
    operatorProblem(claims, operators) ??
    referenceProblemOf(claims, policy.reference);
}

const quote = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

function swversionProblem(claims: ResultClaims, versions: Set<string>): PolicyProblem | undefined {
  if (!versions.has(claims.swversion)) return { reason: 'unknown_swversion', detail: `agent version ${quote(claims.swversion)} is not in the policy` };
  const own = claims.measurements.find((m) => m.id === claims.swname);
  if (own?.version !== undefined && own.version !== claims.swversion)
    return { reason: 'unknown_swversion', detail: `the agent measurement says ${quote(own.version)}, swversion ${quote(claims.swversion)}` };
  return undefined;
}

function modelProblem(claims: ResultClaims, sets: { name: string; keys: Set<string> }[]): PolicyProblem | undefined {
  const models = claims.measurements.filter((m) => m.id !== claims.swname);
  const bare = models.find((m) => typeof m.sha256 !== 'string');
  if (bare) return { reason: 'unknown_measurements', detail: `measurement ${quote(bare.id)} has no sha256` };
  const keys = models.map((m) => `${m.id} ${m.sha256}`);
  // An empty list matches only an empty set: a result that measures no model proves nothing about them.
  const match = sets.find((s) => (keys.length === 0 ? s.keys.size === 0 : keys.every((k) => s.keys.has(k))));
  if (match) return undefined;
  const unknown = models.find((m) => !sets.some((s) => s.keys.has(`${m.id} ${m.sha256}`)));
  return {
    reason: 'unknown_measurements',
    detail: unknown
      ? `model ${quote(unknown.id)} with sha256 ${String(unknown.sha256).slice(0, 12)}… is in no allowed model set`
      : keys.length === 0
        ? 'the result measures no model'
        : 'the models belong to no single allowed model set',
  };
}

function debugProblem(claims: ResultClaims, policy: VerifierPolicy): PolicyProblem | undefined {
  if (claims.dbgstat === undefined)
    return policy.requireDbgstat ? { reason: 'debug_build', detail: 'the result does not report its debug status (dbgstat)' } : undefined;
  if (policy.refuseDebug && claims.dbgstat === 'enabled') return { reason: 'debug_build', detail: 'dbgstat is enabled: a debugger could change the result' };
  return undefined;
}

function operatorProblem(claims: ResultClaims, operators: Set<string>): PolicyProblem | undefined {
  const r = claims.result as Record<string, unknown>;
  if (r.decided_by !== 'operator' && !('operator' in r) && !('operator_decision' in r)) return undefined;
  const op = r.operator;
  const id = typeof op === 'object' && op !== null ? (op as { id?: unknown }).id : undefined;
  if (typeof id !== 'string' || !operators.has(id))
    return { reason: 'unknown_operator', detail: `operator ${quote(id)} is not on the carrier's operator list` };
  let kid: unknown;
  try {
    kid = parseCompact(r.operator_decision as string).header.kid;
  } catch {
    return { reason: 'unknown_operator', detail: 'the result carries no operator decision token to show who decided' };
  }
  if (kid !== id) return { reason: 'unknown_operator', detail: `the decision token is signed as ${quote(kid)}, the result names ${quote(id)}` };
  return undefined;
}

function referenceProblemOf(claims: ResultClaims, want: VerifierPolicy['reference']): PolicyProblem | undefined {
  // Only an accept counts towards a registration; a refusal is recorded whatever its reference was.
  if (!want || (want.requireSource === 'any' && !want.issuingStates) || claims.result.verdict !== 'accept') return undefined;
  const r = (claims.result as Record<string, unknown>).reference as Partial<ReferenceClaims> | undefined;
  const refuse = (detail: string): PolicyProblem => ({ reason: 'reference_not_accepted', detail });
  if (!r) return refuse('the result does not say where its reference portrait came from');
  if (r.source === 'page') return want.requireSource === 'chip' ? refuse('the reference is a photo of the page, and the policy requires the chip') : undefined;
  if (want.requirePassiveAuth && !(r.passiveAuth === 'passed' || (want.acceptReaderSam && r.passiveAuth === 'reader_sam')))
    return refuse(`passive authentication ${quote(r.passiveAuth)} is not accepted`);
  if (want.requireChipAuth && r.chipAuth !== 'passed') return refuse(`chip authentication ${quote(r.chipAuth)}: the chip did not prove its key`);
  if (want.issuingStates && !want.issuingStates.includes(String(r.issuingState))) return refuse(`issuing state ${quote(r.issuingState)} is not in the policy`);
  return undefined;
}
