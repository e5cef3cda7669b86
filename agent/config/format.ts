/** The config schema as rows and as a markdown table (`kiosk-agent config schema`, docs/daemon.md). */
import type { JsonSchema } from './schema-types.js';

export interface SchemaRow {
  key: string;
  type: string;
  default: string;
  unit: string;
  description: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.type === 'array') return `${s.items?.type ?? 'any'}[]`;
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
}

/** One row per leaf key (objects with fixed properties are flattened to dotted keys). */
export function schemaRows(schema: JsonSchema, prefix = ''): SchemaRow[] {
  const rows: SchemaRow[] = [];
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (s.type === 'object' && s.properties) {
      rows.push(...schemaRows(s, key));
      continue;
    }
    const def = s.default === undefined ? '' : s.type === 'object' ? '(see docs/device.md)' : JSON.stringify(s.default);
    rows.push({ key, type: typeOf(s), default: def, unit: s.unit ?? '-', description: s.description ?? '' });
  }
  return rows;
}

/** A markdown table of the rows. */
export function schemaMarkdown(schema: JsonSchema): string {
  const esc = (x: string) => x.replace(/\|/g, '\\|').replace(/\\\\\|/g, '\\|');
  const lines = ['| key | type | default | unit | description |', '|---|---|---|---|---|'];
  for (const r of schemaRows(schema))
    lines.push(`| \`${r.key}\` | ${r.type} | ${r.default === '' ? '' : `\`${esc(r.default)}\``} | ${r.unit} | ${esc(r.description)} |`);
  return `${lines.join('\n')}\n`;
}
