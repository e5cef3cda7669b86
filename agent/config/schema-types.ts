/** The subset of JSON Schema the config schema uses, plus `unit` (a documentation keyword registered with ajv). */
export interface JsonSchema {
  type?: 'object' | 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'null' | Array<'string' | 'null' | 'integer' | 'number'>;
  description?: string;
  /** Unit of a value (ms, px, degrees, bytes…) or `-`; shown by `config schema`. */
  unit?: string;
  default?: unknown;
  enum?: readonly unknown[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  oneOf?: JsonSchema[];
  minItems?: number;
}
