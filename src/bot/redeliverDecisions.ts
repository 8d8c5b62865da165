import { describeError } from '../errors.js';
import type { HandlerContext } from '../handlers/context.js';
import { deliverDecision } from '../handlers/deliverDecision.js';
import { renderDecisionOnMessage } from '../handlers/render/decisionOnMessage.js';

export interface RedeliverOptions {
  /** Leave decisions younger than this to the click that made them (it may still be sending). Default 60 s. */
  graceMs?: number;
}

export interface RedeliverResult {
  delivered: number;
  gone: number;
  retrying: number;
}

/**
 * Sends again every decision that was recorded but never reached Step Functions (the bot
 * stopped, or Step Functions failed, between the click and SendTaskSuccess), so a responder's
 * decision is not silently replaced by the playbook's default. A task that no longer waits closes
 * the approval as failed and says so on its message. Safe on several replicas: a second
 * SendTaskSuccess for the same token is refused by Step Functions and changes nothing.
 */
export async function redeliverDecisions(ctx: HandlerContext, options: RedeliverOptions = {}): Promise<RedeliverResult> {
  const graceMs = options.graceMs ?? 60_000;
  const now = ctx.now();
  const result: RedeliverResult = { delivered: 0, gone: 0, retrying: 0 };
  for (const record of await ctx.approvals.listUndelivered()) {
    const decision = record.decision!;
    if (now.getTime() - Date.parse(decision.at) < graceMs) continue;
    const log = ctx.logger.child({ approvalId: record.approvalId, incidentId: record.incidentId });
    const delivery = await deliverDecision(ctx, record);
    const audit = (outcome: string, detail: Record<string, unknown>) =>
      ctx.audit.append({ at: ctx.now(), who: 'sentinel', what: 'approval-redeliver', approvalId: record.approvalId, incidentId: record.incidentId, outcome, detail });
    if (delivery.outcome === 'retry') {
      result.retrying++;
      log.warn('a recorded decision still cannot be delivered; trying again later', { reason: delivery.reason });
      continue;
    }
    // Another replica sent it between our listing and our attempt: it reports it.
    if (delivery.outcome === 'delivered' && delivery.byOther) continue;
    const delivered = delivery.outcome === 'delivered';
    if (delivered) {
      result.delivered++;
      ctx.metrics.approvalsDecided.inc({ decision: decision.decision });
      log.info('a recorded decision was delivered late', { decision: decision.decision });
      await audit('delivered', { decision: decision.decision, by: decision.by });
    } else {
      result.gone++;
      log.warn('a recorded decision could not be delivered: the playbook no longer waits', { reason: delivery.reason });
      await audit('not-applied', { decision: decision.decision, by: decision.by, reason: delivery.reason });
    }
    const shown = delivered ? decision.decision : 'failed';
    const note = delivered ? 'Delivered to the playbook late (sentinel or Step Functions was unavailable).' : delivery.reason;
    // Through the outbox when it holds the message: recorded, sent in the approval lane, never lost.
    if (await ctx.outbox.showApprovalOutcome(record.approvalId, { decision: shown, by: decision.by, at: ctx.now(), note })) continue;
    if (!record.channelId || !record.messageId) continue;
    try {
      const embeds = await ctx.discord.fetchEmbeds(record.channelId, record.messageId).catch(() => []);
      await ctx.discord.edit(record.channelId, record.messageId, renderDecisionOnMessage({ approvalId: record.approvalId, embeds, decision: shown, by: decision.by, at: ctx.now(), note }));
    } catch (err) {
      log.warn('cannot show the late delivery on the approval message', { reason: describeError(err) });
    }
  }
  return result;
}
