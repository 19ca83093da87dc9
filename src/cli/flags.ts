/**
 * CLI flags derived from a zod object schema: one `--kebab-name` per field, its help text
 * from the field's description, its value parsed by the field's type. Numbers accept k/M/G
 * suffixes (2M = 2,000,000). Validation stays in the schema, so errors name the field.
 */
import { Command, Option } from 'commander';
import type { z } from 'zod';
import { architectureFields, SharedTrainConfig, trainFieldNames } from '../train/config.js';

type Def = { type: string; innerType?: ZodAny; entries?: Record<string, string>; options?: ZodAny[]; values?: unknown[] };
type ZodAny = { _zod: { def: Def }; description?: string };

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function base(t: ZodAny): ZodAny {
  while (t._zod.def.innerType) t = t._zod.def.innerType;
  return t;
}

export function parseNumber(flag: string, v: string): number {
  const m = /^(-?[\d.]+(?:e-?\d+)?)([kKmMgG]?)$/.exec(v.trim());
  const mult = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m?.[2] ?? ''] ?? 1;
  const num = m ? Number(m[1]) * mult : NaN;
  if (!Number.isFinite(num)) throw new Error(`${flag}: "${v}" is not a number (e.g. 4096, 2M, 1e-4)`);
  return num;
}

/** A parser for a whole-number flag in [min, max] (k/M/G suffixes allowed). */
export function intFlag(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const num = parseNumber(flag, v);
    if (!Number.isInteger(num) || num < min || num > max) {
      throw new Error(`${flag}: expected a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, got ${v}`);
    }
    return num;
  };
}

/** A parser for a real-number flag in [min, max]. */
export function realFlag(flag: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const num = parseNumber(flag, v);
    if (num < min || num > max) throw new Error(`${flag}: expected a number from ${min} to ${max}, got ${v}`);
    return num;
  };
}

function parserFor(flag: string, t: ZodAny): (v: string) => unknown {
  const def = t._zod.def;
  switch (def.type) {
    case 'number': return (v) => parseNumber(flag, v);
    case 'array': return (v) => v.split(',').map((part) => parseNumber(flag, part));
    case 'union': return (v) => (def.options!.some((o) => base(o)._zod.def.type === 'literal' && base(o)._zod.def.values?.includes(v)) ? v : parseNumber(flag, v));
    default: return (v) => v;
  }
}

/** Adds one option per schema field to cmd (skipping `omit`). */
export function addSchemaOptions(cmd: Command, schema: z.ZodObject, omit: string[] = []): Command {
  for (const [key, field] of Object.entries(schema.shape as Record<string, ZodAny>)) {
    if (!omit.includes(key)) addFieldOption(cmd, key, field);
  }
  return cmd;
}

/** Every training flag: the shared fields, then each architecture's own (its help names the
 *  architectures it applies to; giving it to another architecture is refused by the schema). */
export function addTrainOptions(cmd: Command): Command {
  addSchemaOptions(cmd, SharedTrainConfig);
  for (const [key, { schema, archs }] of architectureFields()) addFieldOption(cmd, key, schema as unknown as ZodAny, `[${archs.join(', ')}] `);
  return cmd;
}

/** The training settings commander parsed (unset ones left out, so defaults apply). */
export function pickTrainOptions(opts: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(trainFieldNames().filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
}

/** One `--kebab-name` option for a schema field: a switch for booleans, choices for enums,
 *  else a value parsed by the field's type. */
function addFieldOption(cmd: Command, key: string, field: ZodAny, prefix = ''): void {
  const t = base(field);
  const flag = `--${kebab(key)}`;
  const desc = prefix + (field.description ?? '');
  if (t._zod.def.type === 'boolean') {
    cmd.addOption(new Option(flag, desc));
    return;
  }
  const choices = t._zod.def.type === 'enum' ? Object.values(t._zod.def.entries ?? {}) : null;
  const opt = new Option(`${flag} <value>`, desc);
  if (choices) opt.choices(choices);
  else opt.argParser(parserFor(flag, t));
  cmd.addOption(opt);
}

/** The options commander parsed, keyed by schema field (unset ones left out, so defaults apply). */
export function pickSchemaOptions(opts: Record<string, unknown>, schema: z.ZodObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) if (opts[key] !== undefined) out[key] = opts[key];
  return out;
}
