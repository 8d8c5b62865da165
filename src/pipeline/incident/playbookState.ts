import { z } from 'zod';
import type { TriageResult } from '../triage/types.js';
import { incidentInputSchema, type IncidentInput } from './incidentRecord.js';

export interface PlaybookSettings {
  approvalTimeoutSeconds: number;
  /** What happens when nobody answers an approval in time. */
  defaultDecision: 'allow' | 'block';
}

/**
 * The input a playbook execution starts with. Each step's action input is
 * prepared here from triage (every key present, possibly empty) so the state
 * machine only passes `$.steps.<step>` through.
 */
export function buildPlaybookInput(args: {
  incidentId: string;
  executionName: string;
  startTime: string;
  triage: TriageResult;
  event?: unknown;
  settings: PlaybookSettings;
}) {
  const { triage } = args;
  const t = triage.target;
  const pod = t.namespace && t.pod ? { namespace: t.namespace, pod: t.pod, ...(t.container ? { container: t.container } : {}) } : {};
  const node = t.node ?? t.instanceId;
  return {
    incidentId: args.incidentId,
    executionName: args.executionName,
    startTime: args.startTime,
    route: triage.route,
    triage,
    ...(args.event !== undefined ? { event: args.event } : {}),
    config: { approvalTimeoutSeconds: args.settings.approvalTimeoutSeconds, defaultDecision: args.settings.defaultDecision },
    steps: {
      extractFile: triage.artifact ? { ...pod, path: triage.artifact.path } : {},
      quarantineFile: triage.artifact ? { ...pod, path: triage.artifact.path } : {},
      denyEgress: triage.ioc ? { ip: triage.ioc.ip, ...(triage.ioc.port ? { port: triage.ioc.port } : {}), ...(node ? { node } : {}) } : {},
      isolateNode: node ? { node } : {},
      instanceId: t.instanceId ?? '',
    },
    results: {},
  };
}

const resultSchema = z
  .object({ action: z.string().optional(), status: z.enum(['succeeded', 'skipped', 'failed']), summary: z.string().default(''), details: z.record(z.string(), z.unknown()).default({}) })
  .loose();

/** The state a playbook execution carries to its record and report steps. */
export const playbookStateSchema = z
  .object({
    incidentId: z.string().min(1),
    executionName: z.string().min(1),
    startTime: z.string().min(1),
    route: z.string().min(1),
    triage: z.record(z.string(), z.unknown()),
    event: z.unknown().optional(),
    results: z.record(z.string(), z.unknown()).default({}),
    decision: z.object({ action: z.string(), by: z.unknown(), at: z.string().optional() }).loose().optional(),
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).loose().optional(),
    repeats: z.number().optional(),
  })
  .loose();

export type PlaybookState = z.output<typeof playbookStateSchema>;

const STEP_ACTIONS: Record<string, string> = {
  extractFile: 'extract-file',
  quarantineFile: 'quarantine-file',
  denyEgress: 'deny-egress',
  isolateNode: 'isolate-node',
  recordIncident: 'record-incident',
};

/** Turns a playbook's state into the incident that record-incident writes and the report shows. */
export function incidentFromPlaybookState(state: PlaybookState): IncidentInput {
  const actions = Object.entries(state.results).flatMap(([step, raw]) => {
    const r = resultSchema.safeParse(raw);
    if (!r.success) return [];
    return [{ action: r.data.action ?? STEP_ACTIONS[step] ?? step, status: r.data.status, summary: r.data.summary, details: r.data.details }];
  });
  const decisions = state.decision
    ? [
        {
          decision: state.decision.action,
          by: Array.isArray(state.decision.by) ? state.decision.by.join(',') : String(state.decision.by ?? 'unknown'),
          at: state.decision.at ?? state.startTime,
        },
      ]
    : [];
  return {
    incidentId: state.incidentId,
    executionName: state.executionName,
    startTime: state.startTime,
    route: state.route,
    triage: state.triage,
    ...(state.event !== undefined ? { event: state.event } : {}),
    actions,
    decisions,
    ...(state.error ? { error: { error: state.error.Error ?? 'Error', ...(state.error.Cause ? { cause: state.error.Cause.slice(0, 4000) } : {}) } } : {}),
    ...(state.repeats !== undefined ? { repeats: state.repeats } : {}),
  } as IncidentInput;
}

/** Accepts an incident, or a playbook state to convert into one. */
export const incidentOrStateSchema = z.union([
  incidentInputSchema,
  playbookStateSchema.transform((s, ctx) => {
    const r = incidentInputSchema.safeParse(incidentFromPlaybookState(s));
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  }),
]);
