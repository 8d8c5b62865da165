import { ContainmentWindow } from '../stores/containmentWindow.js';
import { describeError } from '../errors.js';
import type { ActionDefinition } from '../pipeline/actions/types.js';
import type { HandlerContext } from './context.js';
import { findDecidedApproval, type DecidedApproval } from './decidedApproval.js';
import type { TaskMessage } from './messages.js';

/** The Step Functions error of a containment step the cap stopped (the playbook catches it and asks). */
export const CAP_REACHED_ERROR = 'sentinel.NeedsApproval.Cap';
/** The Step Functions error of a block the network ACL's headroom stopped (deny-egress's `NeedsApproval.Quota`). */
export const QUOTA_ERROR = 'sentinel.NeedsApproval.Quota';

export type ContainmentGate =
  /** Run it: as the playbook (`stepfunctions:…`), or as the responders who approved it. */
  | { kind: 'run'; actor: string; reason?: string; approval?: DecidedApproval; reservation?: string }
  /** Do not run it: the playbook must ask a responder (error + cause for SendTaskFailure). */
  | { kind: 'escalate'; error: string; cause: string; detail: Record<string, unknown> }
  /** The cap's state could not be read or written: fail the step as transient. */
  | { kind: 'unavailable'; cause: string };

function windowOf(ctx: HandlerContext): ContainmentWindow | undefined {
  if (ctx.containmentWindow) return ctx.containmentWindow;
  const s3 = ctx.actionDeps.aws.s3;
  const bucket = ctx.actionDeps.settings.evidenceBucket;
  return s3 && bucket ? new ContainmentWindow({ s3, bucket }) : undefined;
}

/**
 * Decides how a playbook step of a containment action (deny-egress, isolate-node, isolate-pod:
 * `containment: true` in the registry) may run:
 * - approved: responders decided Block on an approval of this very action and input, for this
 *   incident and execution, in the approval store. Only the store counts (never a message
 *   field). The step runs as them, outside the cap and the network ACL's headroom.
 * - otherwise it is automatic: it takes a slot of SENTINEL_AUTO_CONTAINMENT_CAP in the shared
 *   sliding window, or, past the cap, does not run: `sentinel.NeedsApproval.Cap`.
 * Dry runs and other actions run as the playbook, uncounted.
 */
export async function gateContainment(ctx: HandlerContext, msg: TaskMessage, def: ActionDefinition, dryRun: boolean): Promise<ContainmentGate> {
  const actor = `stepfunctions:${msg.executionName ?? 'unknown'}`;
  if (!def.containment || dryRun) return { kind: 'run', actor };
  const approval = await findDecidedApproval(ctx.approvals, {
    incidentId: msg.incidentId,
    action: msg.action,
    decision: 'block',
    executionName: msg.executionName,
    execution: 'same',
    input: msg.input,
  });
  if (approval) {
    return { kind: 'run', actor: approval.by.join(','), reason: `approved by ${approval.by.join(', ')} (approval ${approval.approvalId})`, approval };
  }
  const window = windowOf(ctx);
  const { cap, windowMinutes } = ctx.actionDeps.settings.autoContainment;
  if (!window) return { kind: 'unavailable', cause: 'no evidence bucket: the automatic containment cap is kept there, so nothing automatic may run' };
  try {
    const outcome = await window.reserve({
      action: msg.action,
      incidentId: msg.incidentId,
      ...(msg.executionName ? { executionName: msg.executionName } : {}),
      input: msg.input,
      now: ctx.now(),
      cap,
      windowMinutes,
    });
    if (outcome.ok) return { kind: 'run', actor, reservation: outcome.id };
    const next = outcome.nextSlotAt ? `; the next automatic slot opens at ${outcome.nextSlotAt}` : '';
    return {
      kind: 'escalate',
      error: CAP_REACHED_ERROR,
      cause: `the automatic containment cap is reached: ${outcome.count} automatic blocks and isolations in the last ${windowMinutes} minutes, of ${cap} allowed (SENTINEL_AUTO_CONTAINMENT_CAP)${next}; a responder must approve this ${msg.action}`,
      detail: { count: outcome.count, cap, windowMinutes, nextSlotAt: outcome.nextSlotAt },
    };
  } catch (err) {
    return { kind: 'unavailable', cause: `the automatic containment cap could not be checked (${describeError(err)})` };
  }
}

/** Gives a step's slot back when it changed nothing (skipped, failed, refused). Best effort: logged. */
export async function releaseContainmentSlot(ctx: HandlerContext, reservation: string): Promise<void> {
  try {
    await windowOf(ctx)?.release(reservation, ctx.now());
  } catch (err) {
    ctx.logger.warn('cannot give back an automatic containment slot', { reservation, reason: describeError(err) });
  }
}

/** Audits what a containment step's result says about the cap and the network ACL: an eviction, a quota escalation. */
export async function auditContainmentResult(ctx: HandlerContext, msg: TaskMessage, result: { status: string; summary: string; details: object }): Promise<void> {
  const details = result.details as { evicted?: Record<string, unknown>; error?: string; blockId?: string };
  const base = { at: ctx.now(), who: 'sentinel', incidentId: msg.incidentId };
  if (details.evicted) {
    await ctx.audit.append({ ...base, what: 'block-evicted', outcome: result.status, detail: { action: msg.action, executionName: msg.executionName, evicted: details.evicted, for: details.blockId } });
  }
  if (result.status === 'failed' && details.error === 'NeedsApproval.Quota') {
    await ctx.audit.append({ ...base, what: 'containment-escalated', outcome: 'needs-approval', detail: { action: msg.action, executionName: msg.executionName, reason: result.summary } });
  }
}
