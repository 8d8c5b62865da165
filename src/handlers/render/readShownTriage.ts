import { z } from 'zod';
import type { TriageResult } from '../../pipeline/triage/types.js';

/** Text as the renderers take it: a string, or a number written out. */
const text = z.union([z.string(), z.number().transform(String)]);
const optionalText = text.optional().catch(undefined);
/** An array of strings, keeping only its strings. */
const strings = z
  .array(z.unknown())
  .catch([])
  .transform((a) => a.filter((v): v is string => typeof v === 'string'));
/** A record of strings, keeping only its string (and number) values. */
const stringRecord = z
  .record(z.string(), z.unknown())
  .catch({})
  .transform((r) => Object.fromEntries(Object.entries(r).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : typeof v === 'number' ? [[k, String(v)]] : []))));

const shownTriageSchema = z.looseObject({
  source: z.string().catch('falco'),
  rule: text.catch('(no rule)'),
  severity: z.string().catch('info'),
  route: z.string().catch('record'),
  target: z.object({ node: optionalText, namespace: optionalText, pod: optionalText, container: optionalText, instanceId: optionalText }).catch({}),
  artifact: z.object({ path: optionalText, src: optionalText, candidates: strings.optional() }).optional().catch(undefined),
  ioc: z.object({ ip: z.string(), port: z.number().optional().catch(undefined) }).optional().catch(undefined),
  dedupeKey: text.catch(''),
  steps: strings,
  time: optionalText,
  context: stringRecord,
  warnings: strings,
  observe: z.literal(true).optional().catch(undefined),
  custom: stringRecord.optional(),
});

/** Drops the keys whose value is undefined (what a field that failed its check becomes); one level only. */
function withoutUndefined<T extends object>(o: T): T {
  for (const [k, v] of Object.entries(o)) if (v === undefined) delete (o as Record<string, unknown>)[k];
  return o;
}

/**
 * A triage result that came in a message (the playbook carries the one triage made, in its input),
 * read as the renderers take it: each field of the type they expect, or, when a field is of another
 * type, left out or given a neutral value (a number is written out as text). A result triage made
 * reads back as it was. A message is never lost because it cannot be rendered: an approval request
 * that threw here would be retried until it was dead-lettered, and its playbook would wait, unseen,
 * for its default decision.
 */
export function readShownTriage(value: unknown): TriageResult {
  const parsed = shownTriageSchema.safeParse(value);
  const shown = withoutUndefined(parsed.success ? parsed.data : shownTriageSchema.parse({}));
  // The objects it checked (not what it passed through untouched: that may nest arbitrarily deep).
  for (const v of [shown.target, shown.artifact, shown.ioc]) if (v) withoutUndefined(v);
  return shown as unknown as TriageResult;
}
