import { describeError, ConflictError } from '../errors.js';
import { invokeAction } from '../pipeline/invokeAction.js';
import type { ActionResult } from '../pipeline/actions/types.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import { renderApprovalMessage } from './render/approvalMessage.js';
import { readShownTriage } from './render/readShownTriage.js';
import { newApprovalRecord, type ApprovalRecord } from '../stores/approvalStore.js';
import { approvalSlotKey } from './ports/outboxSlot.js';
import type { ApprovalRequestMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { approvalIdFor } from './approvalIdFor.js';
import type { IntakeMessage } from './ports/intake.js';
import type { Logger } from '../logger.js';
import { refuseForeignIncident } from './ownIncident.js';
import { refuseMessage } from './refuseMessage.js';

/** The approval message input for a record (also used to re-render it once decided). */
export function approvalView(record: ApprovalRecord, triage: TriageResult, preflight: ActionResult<object> | undefined) {
  return {
    approvalId: record.approvalId,
    incidentId: record.incidentId,
    triage,
    proposedAction: { action: record.proposedAction.action, summary: record.proposedAction.summary ?? `run ${record.proposedAction.action}` },
    preflight,
    deadline: new Date(record.deadline),
    requiredApprovals: record.requiredApprovals,
    approvals: record.approvals.map((a) => ({ by: a.by, at: a.at, decision: a.decision })),
  };
}

interface BoundedPreflight {
  /** What the message shows when it is recorded. */
  shown: ActionResult<object>;
  /** The preflight itself, when it had not answered by the deadline. */
  late?: Promise<ActionResult<object>>;
}

/**
 * The preflight, or, when it has not answered within `deadlineMs` (SENTINEL_PREFLIGHT_DEADLINE_SECONDS:
 * AWS throttled or slow in a storm), a result that says so, and the preflight still running: the
 * request is not held back from the responders for it.
 */
async function boundedPreflight(preflight: Promise<ActionResult<object>>, deadlineMs: number, log: Logger): Promise<BoundedPreflight> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), deadlineMs);
  });
  try {
    const answered = await Promise.race([preflight, late]);
    if (answered) return { shown: answered };
    log.warn('the preflight did not answer in time; the approval is posted without its plan', { deadlineMs });
    return {
      shown: { status: 'skipped', summary: `the preflight did not answer within ${deadlineMs / 1000} s: its plan is added here if it answers while this approval is open`, details: { preflightTimedOut: true } },
      late: preflight,
    };
  } finally {
    clearTimeout(timer);
    // A late preflight's failure is logged by addLatePlan: it is a dry run, and the message went without it.
    preflight.catch(() => undefined);
  }
}

/**
 * A preflight that answered after its approval was recorded: the approval's message is re-rendered
 * with the plan, while nobody has voted on it and it has not expired (the outbox refuses to replace
 * an outcome, and the button handler has the outbox edit the message again if this change would
 * land over a decision). Runs after the handler returned; nothing here is retried: without it the
 * message keeps saying that the preflight did not answer in time (so it does after a restart).
 */
async function addLatePlan(ctx: HandlerContext, approvalId: string, triage: TriageResult, late: Promise<ActionResult<object>>, log: Logger): Promise<void> {
  let preflight: ActionResult<object>;
  try {
    preflight = await late;
  } catch (err) {
    log.warn('the late preflight failed; the approval keeps showing no plan', { reason: describeError(err) });
    return;
  }
  const record = await ctx.approvals.get(approvalId);
  if (!record || record.decision || record.failure || record.approvals.length > 0 || Date.parse(record.deadline) <= ctx.now().getTime()) {
    log.info('the late preflight answered after the approval was answered or closed; its plan is not added', { status: preflight.status });
    return;
  }
  const outcome = await ctx.outbox.updateApproval(approvalId, renderApprovalMessage(approvalView(record, triage, preflight)));
  log.info(outcome === 'recorded' ? 'the late preflight answered; its plan is added to the approval' : 'the late preflight answered after the approval was answered; its plan is not added', { status: preflight.status, outcome });
}

/**
 * Asks the team: stores the approval (the task token stays in the store), runs
 * the proposed action's preflight as a dry run so the message shows what Block
 * would change (for at most SENTINEL_PREFLIGHT_DEADLINE_SECONDS), and records one embed with Allow and Block in the outbox, whose
 * sender posts it first of everything waiting (the approval lane). The SQS
 * message is deleted once it is recorded: while Discord is down the request
 * waits in the outbox (and its task until its own deadline), and is posted when
 * Discord is back; it is never dead-lettered for Discord's sake. A playbook asks
 * only about its own execution's incident.
 */
export async function handleApprovalRequest(msg: ApprovalRequestMessage, meta: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const approvalId = approvalIdFor(msg.taskToken);
  const log = ctx.logger.child({ incidentId: msg.incident.incidentId, approvalId });
  try {
    const incident = await ctx.incidents.get(msg.incident.incidentId);
    const foreign = incident && refuseForeignIncident(incident, msg.incident.executionName);
    if (foreign) return await refuseMessage(ctx, meta, { kind: 'approval-request', reason: foreign, incidentId: msg.incident.incidentId });
    let record = await ctx.approvals.get(approvalId);
    if (!record) {
      const now = ctx.now();
      const timeout = msg.timeoutSeconds ?? ctx.bot.approvalTimeoutSeconds;
      // The deadline is the state machine's: its timeout started when it asked, not now. (A
      // requestedAt ahead of this clock counts as now; one long past gives a deadline already passed.)
      const requested = msg.requestedAt ? Date.parse(msg.requestedAt) : Number.NaN;
      const askedAt = Number.isFinite(requested) ? Math.min(requested, now.getTime()) : now.getTime();
      const timeoutMs = Math.max(0, askedAt + timeout * 1000 - now.getTime());
      const action = msg.proposedAction.action;
      try {
        record = await ctx.approvals.create({
          ...newApprovalRecord({
            taskToken: msg.taskToken,
            incidentId: msg.incident.incidentId,
            ...(msg.incident.executionName ? { executionName: msg.incident.executionName } : {}),
            proposedAction: { action, input: msg.proposedAction.input ?? {}, summary: msg.proposedAction.summary ?? `${action} ${JSON.stringify(msg.proposedAction.input ?? {})}`.slice(0, 300) },
            requiredApprovals: ctx.bot.twoPersonActions.includes(action) ? 2 : 1,
            now,
            timeoutMs,
          }),
          approvalId,
        });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        record = await ctx.approvals.get(approvalId);
      }
    }
    if (!record) throw new Error('approval vanished after create');
    if (record.messageId || ctx.outbox.has(approvalSlotKey(approvalId))) return 'done';

    const def = ctx.actions[record.proposedAction.action];
    const preflight = def ? await boundedPreflight(invokeAction(def, record.proposedAction.input, { actor: 'sentinel:preflight', incidentId: record.incidentId, dryRun: true }, ctx.actionDeps), ctx.bot.preflightDeadlineMs, log) : undefined;
    // Shown whatever the types of its fields (a request that cannot be rendered would never be posted).
    const triage = readShownTriage(msg.incident.triage);
    // Posted (and audited as posted, with its message id on the record) by the outbox's sender.
    const recorded = await ctx.outbox.requestApproval({ approvalId, incidentId: record.incidentId, action: record.proposedAction.action, payload: renderApprovalMessage(approvalView(record, triage, preflight?.shown)) });
    const late = preflight?.late;
    if (late && recorded === 'recorded') {
      void addLatePlan(ctx, approvalId, triage, late, log).catch((err: unknown) => log.warn('the late preflight\'s plan could not be added to the approval', { reason: describeError(err) }));
    }
    if (incident) {
      await ctx.incidents.setStatus(incident.incidentId, 'awaiting-approval');
      ctx.outbox.touchIncident(incident.incidentId); // its message shows the status
    }
    log.info('approval request recorded; it is posted ahead of everything else waiting for the channel', { action: record.proposedAction.action, deadline: record.deadline });
    ctx.metrics.approvalsPending.inc();
    ctx.metrics.messagesHandled.inc({ kind: 'approval-request', outcome: 'recorded' });
    return 'done';
  } catch (err) {
    log.error('approval request failed; will retry', { reason: describeError(err) });
    ctx.metrics.messagesFailed.inc({ kind: 'approval-request' });
    return 'retry';
  }
}
