import { z } from 'zod';

/**
 * Conditions a playbook rule puts on one field of an event (`match.fields`), Falco Talon's
 * operators: `=`, `!=`, `in`, `prefix`, `exists`. Values compare as exact, case-sensitive strings.
 */
export type FieldCondition =
  | { op: '='; value: string }
  | { op: '!='; values: string[] }
  | { op: 'in'; values: string[] }
  | { op: 'prefix'; values: string[] }
  | { op: 'exists'; value: boolean };

/** What an event says about a field: its value, that it has none, or that it cannot say for sure. */
export type FieldReading = { kind: 'value'; value: string } | { kind: 'absent' } | { kind: 'unknown'; why: string };

/**
 * A value as written in the config. YAML reads `8080` as a number and `true` as a boolean: both
 * compare as their text; a number that is not an integer must be quoted (YAML would turn `1.10`
 * into 1.1).
 */
const value = z
  .union([z.string(), z.number(), z.boolean()], { error: 'expected a string (or an integer, or true/false)' })
  .transform((v, ctx) => {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) {
      ctx.addIssue({ code: 'custom', message: `${v} is not an integer: quote it so that it is compared as written` });
      return z.NEVER;
    }
    return String(v);
  });
const oneOrMore = z.union([value, z.array(value).min(1)], { error: 'expected a value or a non-empty list of values' }).transform((v) => (Array.isArray(v) ? v : [v]));

const OPERATORS = ['=', '!=', 'in', 'prefix', 'exists'] as const;

const conditionObject = z
  .object({
    '=': value.optional(),
    '!=': oneOrMore.optional(),
    in: z.array(value).min(1).optional(),
    prefix: oneOrMore.optional(),
    exists: z.boolean().optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const given = OPERATORS.filter((k) => o[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `give exactly one operator (${OPERATORS.join(', ')}); got ${given.length ? given.join(', ') : 'none'}` });
    }
  })
  .transform((o): FieldCondition => {
    if (o['='] !== undefined) return { op: '=', value: o['='] };
    if (o['!='] !== undefined) return { op: '!=', values: o['!='] };
    if (o.in !== undefined) return { op: 'in', values: o.in };
    if (o.prefix !== undefined) return { op: 'prefix', values: o.prefix };
    return { op: 'exists', value: o.exists! };
  });

/**
 * One field's conditions: a bare value (`k8s.ns.name: prod`, the same as `{ "=": prod }`), one
 * operator object, or a list of them that must all hold.
 */
export const fieldConditionsSchema = z.preprocess(
  (v) => (Array.isArray(v) ? v : [v]).map((c) => (c !== null && typeof c === 'object' && !Array.isArray(c) ? c : { '=': c })),
  z.array(conditionObject).min(1, 'a field needs at least one condition'),
);

/**
 * Whether a reading satisfies a condition. A field the event does not have satisfies only `!=`
 * and `exists: false`; a field it cannot read for sure (ambiguous, or only in free text)
 * satisfies nothing, so crafted text can neither make a rule match nor dodge an exclusion.
 */
export function testFieldCondition(c: FieldCondition, reading: FieldReading): boolean {
  if (reading.kind === 'unknown') return false;
  const v = reading.kind === 'value' ? reading.value : undefined;
  switch (c.op) {
    case '=':
      return v === c.value;
    case '!=':
      return v === undefined || !c.values.includes(v);
    case 'in':
      return v !== undefined && c.values.includes(v);
    case 'prefix':
      return v !== undefined && c.values.some((p) => v.startsWith(p));
    case 'exists':
      return c.value === (v !== undefined);
  }
}

function list(values: readonly string[]): string {
  return values.length === 1 ? JSON.stringify(values[0]) : `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
}

/** `k8s.ns.name != "kube-system"`, `container.image.repository prefix ["a/", "b/"]`, `cluster exists`. */
export function describeFieldCondition(key: string, c: FieldCondition): string {
  switch (c.op) {
    case '=':
      return `${key} = ${JSON.stringify(c.value)}`;
    case '!=':
      return `${key} != ${list(c.values)}`;
    case 'in':
      return `${key} in [${c.values.map((v) => JSON.stringify(v)).join(', ')}]`;
    case 'prefix':
      return `${key} prefix ${list(c.values)}`;
    case 'exists':
      return c.value ? `${key} exists` : `${key} does not exist`;
  }
}

/** How a reading is shown in `--explain`. */
export function describeReading(reading: FieldReading): string {
  switch (reading.kind) {
    case 'value':
      return JSON.stringify(reading.value);
    case 'absent':
      return 'absent';
    case 'unknown':
      return `unknown: ${reading.why}`;
  }
}
