import { describeError } from '../errors.js';
import type { HandlerContext } from '../handlers/context.js';
import { renderDecisionOnMessage } from '../handlers/render/decisionOnMessage.js';

/** What the playbook does when nobody answered, as the message should say it. */
export function expiryNote(action: string, defaultDecision: 'allow' | 'block'): string {
  if (action === 'waive-memory-capture') return 'Nobody decided in time: memory capture is not waived, so nothing that would destroy memory runs.';
  return `Nobody decided in time; the playbook applied the default decision (${defaultDecision}).`;
}

/**
 * Marks approvals whose deadline has passed as expired and shows it on their
 * message (Step Functions has already applied the default decision). Safe to
 * run from several replicas: the store's transitions are atomic.
 */
export async function sweepExpiredApprovals(ctx: HandlerContext): Promise<number> {
  const now = ctx.now();
  let expired = 0;
  for (const record of await ctx.approvals.listPending()) {
    if (Date.parse(record.deadline) > now.getTime()) continue;
    const updated = await ctx.approvals.markExpired(record.approvalId);
    if (updated.status !== 'expired') continue;
    expired++;
    ctx.metrics.approvalsPending.dec();
    await ctx.audit.append({ at: now, who: 'sentinel', what: 'approval-expired', approvalId: record.approvalId, incidentId: record.incidentId, outcome: 'expired', detail: { defaultDecision: ctx.defaultDecision } });
    const note = expiryNote(record.proposedAction.action, ctx.defaultDecision);
    // Through the outbox when it holds the message (posted or still waiting for Discord): recorded, never lost.
    if (await ctx.outbox.showApprovalOutcome(record.approvalId, { decision: 'expired', by: [], at: now, note })) continue;
    if (record.channelId && record.messageId) {
      try {
        const embeds = await ctx.discord.fetchEmbeds(record.channelId, record.messageId).catch(() => []);
        await ctx.discord.edit(record.channelId, record.messageId, renderDecisionOnMessage({ approvalId: record.approvalId, embeds, decision: 'expired', by: [], at: now, note }));
      } catch (err) {
        ctx.logger.warn('cannot show the expiry on the approval message', { approvalId: record.approvalId, reason: describeError(err) });
      }
    }
  }
  return expired;
}
