import { ConflictError, describeError } from '../errors.js';
import { TaskGoneError } from './ports/playbookEngine.js';
import type { ApprovalRecord } from '../stores/approvalStore.js';
import type { HandlerContext } from './context.js';

export type DeliveryOutcome =
  /** Step Functions accepted the decision; the record says so. `byOther`: another replica sent it first. */
  | { outcome: 'delivered'; record: ApprovalRecord; byOther?: boolean }
  /** The task no longer waits (timed out, ended): the record is closed as failed with the reason. */
  | { outcome: 'gone'; record: ApprovalRecord; reason: string }
  /** Step Functions could not be reached: the record stays decided and undelivered, to be sent again. */
  | { outcome: 'retry'; record: ApprovalRecord; reason: string };

/**
 * Sends a decided approval's decision to Step Functions (SendTaskSuccess with `{action, by, at}`)
 * and records the result, so that a decision is never lost between the click and the playbook:
 * anything short of "accepted" or "the task is gone" leaves it for redeliverDecisions.
 * SendTaskSuccess for a task that already took the decision fails with a TaskGone code, so
 * sending twice cannot decide twice.
 */
export async function deliverDecision(ctx: HandlerContext, record: ApprovalRecord): Promise<DeliveryOutcome> {
  const decision = record.decision;
  if (record.status !== 'decided' || !decision) throw new ConflictError(`approval ${record.approvalId} is ${record.status}, not decided: there is no decision to send`, { code: 'NotDecided' });
  try {
    await ctx.engine.taskSucceeded(record.taskToken, { action: decision.decision, by: decision.by.join(','), at: decision.at });
  } catch (err) {
    const reason = err instanceof TaskGoneError ? `the playbook no longer waits for this decision (${err.code})` : describeError(err);
    if (err instanceof TaskGoneError) {
      // Another replica may have delivered it meanwhile: then the token is spent because it worked.
      const closed = await ctx.approvals.markFailed(record.approvalId, reason);
      if (closed.delivered) return { outcome: 'delivered', record: closed, byOther: true };
      return { outcome: 'gone', record: closed, reason };
    }
    return { outcome: 'retry', record, reason };
  }
  return { outcome: 'delivered', record: await ctx.approvals.markDelivered(record.approvalId) };
}
