/**
 * Approvals: the Allow/Block questions the bot posts for a Step Functions task token, and how
 * they are decided. This module holds the record schema, the store interface and the pure state
 * transitions; fileApprovalStore.ts and s3ApprovalStore.ts only add storage and atomicity.
 *
 * Two-person rule (requiredApprovals 2). **Block** runs the proposed action, **Allow** lets the
 * activity go on; either way "two different people must agree":
 * - A decision is reached when `requiredApprovals` DISTINCT people have chosen the SAME decision.
 *   decision.by lists them in the order they voted.
 * - Each person has one vote: their first click. A later click by the same person (same or other
 *   choice) is refused (`refused`, reason `already-voted`): not counted, only audited on the record.
 * - Whoever started the action (`initiatedBy`, e.g. the responder who ran a command; absent for a
 *   playbook's approval) cannot vote on it at all (`refused`, reason `initiator`). The check is
 *   the shared one of src/policy/checkVote.ts, also used by the confirmation store.
 * - A second person who chooses differently from the first does NOT decide anything: the
 *   approval stays pending (`pending-second`) until a further person agrees with one of the two,
 *   or the deadline passes (then it expires and the state machine takes its timeout path).
 *   Nobody can force either outcome alone, which is the point of the rule.
 * - requiredApprovals can only be raised by `decide` (the stricter of the record's and the
 *   caller's), never lowered.
 */
import { z } from 'zod';
import { checkVote, type VoteRefusal } from '../policy/checkVote.js';
import { randomId, validateInput } from './storeIo.js';

export const APPROVAL_STATUSES = ['pending', 'decided', 'expired', 'failed'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];
export type ApprovalChoice = 'allow' | 'block';

/** URL-safe, 16 to 24 characters (it goes into Discord custom_ids and file names). */
export const APPROVAL_ID_PATTERN = /^[A-Za-z0-9_-]{16,24}$/;

const isoTime = z.iso.datetime({ offset: true });
const choice = z.enum(['allow', 'block']);
const required = z.union([z.literal(1), z.literal(2)]);

export const approvalAuditEntrySchema = z.object({
  at: isoTime,
  who: z.string().min(1).max(200),
  what: z.string().min(1).max(200),
  detail: z.string().max(2000).optional(),
});

export const approvalVoteSchema = z.object({
  by: z.string().min(1).max(200),
  at: isoTime,
  decision: choice,
});

export const approvalRecordSchema = z.object({
  approvalId: z.string().regex(APPROVAL_ID_PATTERN, 'a URL-safe id of 16 to 24 characters'),
  /** Secret: the Step Functions task token. Stored, never logged or shown (see summarizeApproval). */
  taskToken: z.string().min(1).max(8192),
  incidentId: z.string().min(1).max(128),
  executionName: z.string().max(80).optional(),
  proposedAction: z.object({
    action: z.string().min(1).max(64),
    input: z.unknown().optional(),
    summary: z.string().max(500).default(''),
  }),
  /** Who started the action, when a person did (they cannot approve it); absent for a playbook's own approval. */
  initiatedBy: z.string().min(1).max(200).optional(),
  requiredApprovals: required,
  approvals: z.array(approvalVoteSchema).default([]),
  status: z.enum(APPROVAL_STATUSES).default('pending'),
  decision: z
    .object({
      decision: choice,
      /** Who decided: the agreeing approvers, in the order they voted. */
      by: z.array(z.string().min(1)).min(1),
      at: isoTime,
      /** Random id of the one `decide` call that decided (lets the S3 store verify its write). */
      decisionId: z.string().min(1).max(64),
    })
    .optional(),
  failure: z.object({ at: isoTime, reason: z.string().max(2000) }).optional(),
  /** When Step Functions accepted the decision (SendTaskSuccess). A decided record without it is redelivered. */
  delivered: z.object({ at: isoTime }).optional(),
  channelId: z.string().min(1).max(32).optional(),
  messageId: z.string().min(1).max(32).optional(),
  createdAt: isoTime,
  deadline: isoTime,
  audit: z.array(approvalAuditEntrySchema).default([]),
  /** Incremented by every write (the store sets it; 1 after create). */
  revision: z.number().int().nonnegative().default(0),
});

export type ApprovalRecord = z.output<typeof approvalRecordSchema>;
/** What `create` takes: a record whose defaulted fields (approvals, status, audit, revision…) may be left out. */
export type ApprovalRecordInput = z.input<typeof approvalRecordSchema>;
export type ApprovalAuditEntry = z.output<typeof approvalAuditEntrySchema>;
export type ApprovalVote = z.output<typeof approvalVoteSchema>;

/** A record without its task token: safe to log, render, serialise or return from an API. */
export type ApprovalSummary = Omit<ApprovalRecord, 'taskToken'>;

export interface DecideInput {
  /** Who clicked (a Discord user id or `discord:<id>`). */
  by: string;
  decision: ApprovalChoice;
  at: Date;
  /** The policy's number of approvers; the stricter of this and the record's applies. */
  requiredApprovals?: 1 | 2;
}

export const decideInputSchema = z.object({
  by: z.string().min(1).max(200),
  decision: choice,
  at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'a valid date'),
  requiredApprovals: required.optional(),
});

export type DecideResult =
  /** This call decided. Exactly one call per approval ever gets this. */
  | { outcome: 'decided'; record: ApprovalRecord }
  /** Waiting for more agreeing approvers. `counted` is false when this person had already voted. */
  | { outcome: 'pending-second'; record: ApprovalRecord; counted: boolean }
  /** The vote does not count (the two-person rule): this person voted already, or started the action. Audited on the record. */
  | { outcome: 'refused'; record: ApprovalRecord; reason: VoteRefusal }
  /** Someone else decided first: record.decision names who and what. */
  | { outcome: 'already-decided'; record: ApprovalRecord }
  /** Past its deadline (this call may be the one that marked it expired). */
  | { outcome: 'expired'; record: ApprovalRecord }
  /** Closed as failed (markFailed): record.failure says why; record.decision is there if it was decided first. */
  | { outcome: 'failed'; record: ApprovalRecord }
  | { outcome: 'not-found' };

export interface ApprovalStore {
  /** Stores a new approval. ConflictError when the id exists; ValidationError when the record is invalid. */
  create(record: ApprovalRecordInput): Promise<ApprovalRecord>;
  /** The record, or undefined when there is none. Throws (code CorruptState) when it cannot be read back. */
  get(approvalId: string): Promise<ApprovalRecord | undefined>;
  /** Records where the approval message was posted. NotFoundError when there is no such approval. */
  attachMessage(approvalId: string, channelId: string, messageId: string): Promise<ApprovalRecord>;
  /** Atomic: among any number of concurrent calls (processes, replicas) exactly one gets 'decided'. */
  decide(approvalId: string, input: DecideInput): Promise<DecideResult>;
  /** Closes the approval as failed (e.g. SendTaskSuccess failed); keeps any decision; a delivered one is returned unchanged. NotFoundError when missing. */
  markFailed(approvalId: string, reason: string): Promise<ApprovalRecord>;
  /** Expires a pending approval; a decided, failed or expired one is returned unchanged. NotFoundError when missing. */
  markExpired(approvalId: string): Promise<ApprovalRecord>;
  /** Adds an audit entry to the record (any status). NotFoundError when missing. */
  appendAudit(approvalId: string, entry: ApprovalAuditEntry): Promise<ApprovalRecord>;
  /** Records that Step Functions accepted the decision (a decided one, or one closed as failed by a replica that judged it late, becomes decided and delivered); otherwise unchanged. NotFoundError when missing. */
  markDelivered(approvalId: string): Promise<ApprovalRecord>;
  /** Every pending approval. A record that cannot be read is skipped and reported to the store's logger. */
  listPending(): Promise<ApprovalRecord[]>;
  /** Every decided approval whose decision Step Functions has not yet accepted (see isUndelivered), oldest first. */
  listUndelivered(): Promise<ApprovalRecord[]>;
  /** Every approval of an incident, whatever its status, oldest first. */
  listForIncident(incidentId: string): Promise<ApprovalRecord[]>;
}

/** Decided, but the decision has not (yet) reached Step Functions: a crash or an outage came in between. */
export function isUndelivered(record: ApprovalRecord): boolean {
  return record.status === 'decided' && record.delivered === undefined;
}

/** A new random approval id: 20 URL-safe characters (120 random bits). */
export function newApprovalId(): string {
  return randomId(15);
}

export interface NewApprovalOptions {
  taskToken: string;
  incidentId: string;
  executionName?: string;
  proposedAction: { action: string; input?: unknown; summary?: string };
  requiredApprovals: 1 | 2;
  now: Date;
  /** How long responders have; the deadline is now + timeoutMs. */
  timeoutMs: number;
  /** Who asked (recorded in the audit); default 'sentinel'. */
  requestedBy?: string;
  /** The person who started the action, if one did: they cannot approve it. */
  initiatedBy?: string;
}

/** A fresh pending record with a new random id. */
export function newApprovalRecord(options: NewApprovalOptions): ApprovalRecordInput {
  const createdAt = options.now.toISOString();
  return {
    approvalId: newApprovalId(),
    taskToken: options.taskToken,
    incidentId: options.incidentId,
    ...(options.executionName ? { executionName: options.executionName } : {}),
    proposedAction: { action: options.proposedAction.action, input: options.proposedAction.input, summary: options.proposedAction.summary ?? '' },
    ...(options.initiatedBy ? { initiatedBy: options.initiatedBy } : {}),
    requiredApprovals: options.requiredApprovals,
    createdAt,
    deadline: new Date(options.now.getTime() + options.timeoutMs).toISOString(),
    audit: [{ at: createdAt, who: options.requestedBy ?? 'sentinel', what: 'requested', detail: `approval of ${options.proposedAction.action}` }],
  };
}

/** The record without its task token (safe to log or render). */
export function summarizeApproval(record: ApprovalRecord): ApprovalSummary {
  const { taskToken: _secret, ...rest } = record;
  return rest;
}

/**
 * Checks a record before a store writes it, so a bad value from a caller (a 40-character channel
 * id, say) is refused as a ValidationError instead of being stored and read back as corrupt.
 */
export function assertWritableRecord(record: ApprovalRecord): void {
  validateInput(approvalRecordSchema, record, 'approval record');
}

// ---------------------------------------------------------------------------------------------
// Pure transitions, shared by both stores. Each returns the next record (or undefined when
// nothing changes) and what to tell the caller. Stores bump `revision` when they write.
// ---------------------------------------------------------------------------------------------

export interface Transition<R> {
  next: ApprovalRecord | undefined;
  result: R;
}

function withAudit(record: ApprovalRecord, entry: ApprovalAuditEntry): ApprovalRecord['audit'] {
  return [...record.audit, entry];
}

/** The deadline has passed at `at` (an approval is still open AT its deadline, closed after it). */
export function isPastDeadline(record: ApprovalRecord, at: Date): boolean {
  return at.getTime() > Date.parse(record.deadline);
}

export function decideTransition(record: ApprovalRecord, input: DecideInput, decisionId: string): Transition<DecideResult> {
  const at = input.at.toISOString();
  switch (record.status) {
    case 'decided':
      return { next: undefined, result: { outcome: 'already-decided', record } };
    case 'expired':
      return { next: undefined, result: { outcome: 'expired', record } };
    case 'failed':
      return { next: undefined, result: { outcome: 'failed', record } };
    case 'pending':
      break;
  }
  if (isPastDeadline(record, input.at)) {
    const next: ApprovalRecord = {
      ...record,
      status: 'expired',
      audit: withAudit(record, { at, who: input.by, what: 'expired', detail: `${input.decision} arrived after the deadline ${record.deadline}` }),
    };
    return { next, result: { outcome: 'expired', record: next } };
  }
  const vote = checkVote({ by: input.by, voters: record.approvals.map((v) => v.by), initiatedBy: record.initiatedBy });
  if (!vote.ok) {
    const next: ApprovalRecord = {
      ...record,
      audit: withAudit(record, { at, who: input.by, what: 'vote-refused', detail: `${input.decision} not counted: ${vote.reason === 'initiator' ? 'they started this action' : 'they already voted'}` }),
    };
    return { next, result: { outcome: 'refused', record: next, reason: vote.reason } };
  }
  const requiredApprovals: 1 | 2 = Math.max(record.requiredApprovals, input.requiredApprovals ?? 1) === 2 ? 2 : 1;
  const approvals = [...record.approvals, { by: input.by, at, decision: input.decision }];
  const agreeing = approvals.filter((v) => v.decision === input.decision);
  if (agreeing.length >= requiredApprovals) {
    const next: ApprovalRecord = {
      ...record,
      requiredApprovals,
      approvals,
      status: 'decided',
      decision: { decision: input.decision, by: agreeing.map((v) => v.by), at, decisionId },
      audit: withAudit(record, { at, who: input.by, what: 'decided', detail: `${input.decision} by ${agreeing.map((v) => v.by).join(', ')}` }),
    };
    return { next, result: { outcome: 'decided', record: next } };
  }
  const next: ApprovalRecord = {
    ...record,
    requiredApprovals,
    approvals,
    audit: withAudit(record, { at, who: input.by, what: 'vote', detail: `${input.decision} (${agreeing.length} of ${requiredApprovals})` }),
  };
  return { next, result: { outcome: 'pending-second', record: next, counted: true } };
}

export function attachMessageTransition(record: ApprovalRecord, channelId: string, messageId: string): Transition<ApprovalRecord> {
  if (record.channelId === channelId && record.messageId === messageId) return { next: undefined, result: record };
  const next = { ...record, channelId, messageId };
  return { next, result: next };
}

export function markFailedTransition(record: ApprovalRecord, reason: string, now: Date): Transition<ApprovalRecord> {
  // A decision Step Functions accepted cannot fail afterwards (another replica may judge it late).
  if (record.status === 'failed' || record.delivered) return { next: undefined, result: record };
  const at = now.toISOString();
  const trimmed = reason.slice(0, 2000);
  const next: ApprovalRecord = {
    ...record,
    status: 'failed',
    failure: { at, reason: trimmed },
    audit: withAudit(record, { at, who: 'sentinel', what: 'failed', detail: trimmed }),
  };
  return { next, result: next };
}

export function markExpiredTransition(record: ApprovalRecord, now: Date): Transition<ApprovalRecord> {
  if (record.status !== 'pending') return { next: undefined, result: record };
  const at = now.toISOString();
  const next: ApprovalRecord = { ...record, status: 'expired', audit: withAudit(record, { at, who: 'sentinel', what: 'expired', detail: `deadline ${record.deadline}` }) };
  return { next, result: next };
}

export function markDeliveredTransition(record: ApprovalRecord, now: Date): Transition<ApprovalRecord> {
  const failedFirst = record.status === 'failed' && record.decision !== undefined;
  if (record.delivered || !(isUndelivered(record) || failedFirst)) return { next: undefined, result: record };
  const at = now.toISOString();
  // Step Functions took it: that is the truth, even if another replica had judged it undeliverable.
  const { failure, ...rest } = record;
  const detail = failure ? `Step Functions accepted the decision (it had been closed as failed: ${failure.reason})` : 'Step Functions accepted the decision';
  const next: ApprovalRecord = { ...rest, status: 'decided', delivered: { at }, audit: withAudit(record, { at, who: 'sentinel', what: 'delivered', detail: detail.slice(0, 2000) }) };
  return { next, result: next };
}

export function appendAuditTransition(record: ApprovalRecord, entry: ApprovalAuditEntry): Transition<ApprovalRecord> {
  const parsed = validateInput(approvalAuditEntrySchema, entry, 'audit entry');
  const next = { ...record, audit: withAudit(record, parsed) };
  return { next, result: next };
}
