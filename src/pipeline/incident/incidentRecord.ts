import { z } from 'zod';

export const evidenceItemSchema = z.object({
  kind: z.string().min(1),
  location: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  size: z.number().int().nonnegative().optional(),
  collector: z.string().min(1),
  collectedAt: z.string().min(1),
  source: z.record(z.string(), z.string()).default({}),
});

export const decisionSchema = z.object({
  /** What was decided: `block`, `allow`, `waive-memory`, `timeout`… */
  decision: z.string().min(1),
  by: z.string().min(1),
  at: z.string().min(1),
  action: z.string().optional(),
  note: z.string().optional(),
});

export const actionOutcomeSchema = z.object({
  action: z.string().min(1),
  status: z.enum(['succeeded', 'skipped', 'failed']),
  summary: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
  at: z.string().optional(),
});

/** What the record-incident action receives: the incident so far. */
export const incidentInputSchema = z.object({
  incidentId: z.string().min(1).max(128),
  executionName: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'a Step Functions execution name'),
  startTime: z.iso.datetime({ offset: true }),
  route: z.string().min(1),
  triage: z.record(z.string(), z.unknown()),
  event: z.unknown().optional(),
  actions: z.array(actionOutcomeSchema).default([]),
  evidence: z.array(evidenceItemSchema).default([]),
  decisions: z.array(decisionSchema).default([]),
  error: z.object({ error: z.string(), cause: z.string().optional() }).optional(),
  repeats: z.number().int().nonnegative().optional(),
});

export type IncidentInput = z.output<typeof incidentInputSchema>;

export interface IncidentRecord extends IncidentInput {
  schema: 'sentinel.incident/v1';
  recordedAt: string;
  recordedBy: string;
  /** Every artifact, with where it is and its hash: the evidence manifest. */
  manifest: IncidentInput['evidence'];
}

/** The S3 key of an incident record: `incidents/{start time}/{execution name}.json` (the earlier system's scheme). */
export function incidentKey(startTime: string, executionName: string): string {
  return `incidents/${new Date(startTime).toISOString()}/${executionName}.json`;
}

/**
 * Builds the incident document. Evidence found in action results (details.evidence)
 * joins the listed evidence; duplicates (same location) appear once.
 */
export function buildIncidentRecord(input: IncidentInput, recordedBy: string, now: Date): IncidentRecord {
  const all = [...input.evidence];
  for (const a of input.actions) {
    const ev = (a.details as { evidence?: unknown }).evidence;
    for (const item of Array.isArray(ev) ? ev : ev ? [ev] : []) {
      const parsed = evidenceItemSchema.safeParse(item);
      if (parsed.success) all.push(parsed.data);
    }
  }
  const seen = new Set<string>();
  const manifest = all.filter((e) => (seen.has(e.location) ? false : (seen.add(e.location), true)));
  return { schema: 'sentinel.incident/v1', ...input, manifest, recordedAt: now.toISOString(), recordedBy };
}
