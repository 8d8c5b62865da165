import { z } from 'zod';
import { incidentOrStateSchema } from '../pipeline/incident/playbookState.js';
import { exceedsJsonDepth } from './exceedsJsonDepth.js';

/**
 * The kinds of SQS message the bot handles (docs/messages.md). A body with a
 * `kind` is one of ours; anything else is a raw Falco or GuardDuty event.
 */
export const MESSAGE_KINDS = ['event', 'task', 'approval-request', 'report', 'notify'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

const taskToken = z.string().min(1).max(8192);

/** A step of a playbook: run a pipeline action, then SendTaskSuccess/SendTaskFailure. */
export const taskMessageSchema = z
  .object({
    kind: z.literal('task'),
    taskToken,
    action: z.string().min(1).max(64),
    input: z.unknown(),
    incidentId: z.string().min(1).max(128),
    executionName: z.string().max(80).optional(),
    /** When the state machine entered the step (`$$.State.EnteredTime`) and how long it waits: the step's deadline. */
    enteredAt: z.iso.datetime({ offset: true }).optional(),
    timeoutSeconds: z.number().int().min(1).max(31_536_000).optional(),
    /** The step's HeartbeatSeconds: the bot heartbeats at a third of it while the action runs. */
    heartbeatSeconds: z.number().int().min(1).max(31_536_000).optional(),
    dryRun: z.boolean().optional(),
    /** Memory capture state, for actions that would destroy memory. */
    memory: z.object({ captured: z.boolean().optional(), waivedBy: z.string().optional() }).optional(),
  })
  .strict();

const incidentSummarySchema = z
  .object({
    incidentId: z.string().min(1).max(128),
    executionName: z.string().max(80).optional(),
    triage: z.record(z.string(), z.unknown()),
  })
  .loose();

/** Ask the team: post an approval with Allow/Block and wait for the decision. */
export const approvalRequestSchema = z
  .object({
    kind: z.literal('approval-request'),
    taskToken,
    incident: incidentSummarySchema,
    proposedAction: z.object({ action: z.string().min(1).max(64), input: z.unknown().optional(), summary: z.string().max(500).optional() }),
    /**
     * What the state machine waits (its TimeoutSecondsPath reads the same value). Any positive
     * value is shown as it is: refusing a short one would drop the request while the execution
     * still waits, unseen, for its timeout. SENTINEL_APPROVAL_TIMEOUT_SECONDS keeps its 60 s minimum.
     */
    timeoutSeconds: z.number().int().min(1).max(604_800).optional(),
    /**
     * When the state machine asked (`$$.State.EnteredTime`): its timeout runs from then, not from
     * when this message is handled (a redelivery after an outage may come much later).
     */
    requestedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** The final incident and where it is recorded. */
export const reportMessageSchema = z
  .object({
    kind: z.literal('report'),
    /** The execution that sends it (`$$.Execution.Name`): a report only updates that execution's incident. */
    executionName: z.string().max(80).optional(),
    incident: incidentOrStateSchema,
    record: z.object({ bucket: z.string(), key: z.string(), location: z.string() }).partial().optional(),
  })
  .strict();

/** An alert only (GuardDuty notify route). */
export const notifyMessageSchema = z
  .object({
    kind: z.literal('notify'),
    incident: incidentSummarySchema,
  })
  .strict();

export type TaskMessage = z.output<typeof taskMessageSchema>;
export type ApprovalRequestMessage = z.output<typeof approvalRequestSchema>;
export type ReportMessage = z.output<typeof reportMessageSchema>;
export type NotifyMessage = z.output<typeof notifyMessageSchema>;

export type ParsedMessage =
  | { kind: 'event'; event: unknown }
  | { kind: 'task'; message: TaskMessage }
  | { kind: 'approval-request'; message: ApprovalRequestMessage }
  | { kind: 'report'; message: ReportMessage }
  | { kind: 'notify'; message: NotifyMessage };

export type ParseResult = { ok: true; parsed: ParsedMessage } | { ok: false; reason: string };

const schemas = {
  task: taskMessageSchema,
  'approval-request': approvalRequestSchema,
  report: reportMessageSchema,
  notify: notifyMessageSchema,
} as const;

function issues(error: z.ZodError): string {
  // Paths and messages only: never echo values (a task token could be among them).
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** How deep a body may nest objects and arrays: far beyond any event or playbook message (a GuardDuty finding nests about 8). */
export const MAX_JSON_DEPTH = 64;

/** Parses an SQS body into a message kind. Never throws. */
export function parseMessage(body: string | undefined): ParseResult {
  if (body === undefined || body.trim() === '') return { ok: false, reason: 'empty body' };
  if (body.length > 262_144) return { ok: false, reason: 'body larger than 256 KiB' };
  if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) return { ok: false, reason: `body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels` };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `body is not JSON: ${(err as Error).message}` };
  }
  if (json && typeof json === 'object' && !Array.isArray(json) && 'kind' in json) {
    const kind = (json as { kind: unknown }).kind;
    if (typeof kind !== 'string' || !Object.hasOwn(schemas, kind)) return { ok: false, reason: `unknown message kind ${JSON.stringify(String(kind).slice(0, 40))}` };
    const k = kind as keyof typeof schemas;
    const r = schemas[k].safeParse(json);
    if (!r.success) return { ok: false, reason: `invalid ${k} message: ${issues(r.error)}` };
    return { ok: true, parsed: { kind: k, message: r.data } as ParsedMessage };
  }
  return { ok: true, parsed: { kind: 'event', event: json } };
}
