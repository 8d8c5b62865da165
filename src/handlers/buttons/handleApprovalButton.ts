import { MessageFlags, type APIEmbed, type ButtonInteraction } from 'discord.js';
import { renderDecisionOnMessage } from '../../bot/render/decisionOnMessage.js';
import type { HandlerContext } from '../context.js';
import { isResponder } from '../authorize.js';
import { deliverDecision } from '../deliverDecision.js';

export interface ApprovalClick {
  approvalId: string;
  choice: 'allow' | 'block';
}

/** Parses `apv:<approvalId>:<allow|block>`; undefined for anything else. */
export function parseApprovalCustomId(customId: string): ApprovalClick | undefined {
  const m = /^apv:([A-Za-z0-9_-]{8,40}):(allow|block)$/.exec(customId);
  return m ? { approvalId: m[1]!, choice: m[2] as 'allow' | 'block' } : undefined;
}

const ephemeral = (content: string) => ({ content, flags: MessageFlags.Ephemeral as const, allowedMentions: { parse: [] as never[] } });

/**
 * Allow/Block on an approval: only responders may decide (anyone else gets an
 * ephemeral refusal, audited). The store decides atomically, so of two
 * simultaneous clicks exactly one wins; the other is told who decided. The
 * decision resumes the playbook with SendTaskSuccess; an execution that no
 * longer waits is shown on the message; a decision Step Functions did not take
 * (outage, crash) stays recorded and is sent again by redeliverDecisions.
 * Acknowledged within Discord's 3 s.
 */
export async function handleApprovalButton(interaction: ButtonInteraction, click: ApprovalClick, ctx: HandlerContext): Promise<void> {
  const userId = interaction.user.id;
  const log = ctx.logger.child({ interactionId: interaction.id, approvalId: click.approvalId, userId });
  const audit = (outcome: string, detail?: unknown) =>
    ctx.audit.append({ at: ctx.now(), who: `discord:${userId}`, what: `approval-${click.choice}`, approvalId: click.approvalId, outcome, ...(detail ? { detail } : {}) });

  if (!isResponder(interaction.member, ctx.responderRoleIds)) {
    await interaction.reply(ephemeral('You are not allowed to decide approvals: it needs a responder role.'));
    await audit('refused-unauthorized');
    log.warn('approval click refused: not a responder');
    return;
  }
  await interaction.deferUpdate();
  const at = ctx.now();
  const result = await ctx.approvals.decide(click.approvalId, { by: `discord:${userId}`, decision: click.choice, at });
  const embeds = interaction.message.embeds.map((e) => e.toJSON() as APIEmbed);
  const show = (decision: Parameters<typeof renderDecisionOnMessage>[0]['decision'], by: readonly string[], note?: string) =>
    interaction.editReply(renderDecisionOnMessage({ approvalId: click.approvalId, embeds, decision, by, at, ...(note ? { note } : {}) }));

  switch (result.outcome) {
    case 'not-found':
      await interaction.followUp(ephemeral('This approval is not known to sentinel (it may belong to another deployment).'));
      await audit('not-found');
      return;
    case 'already-decided': {
      const d = result.record.decision;
      await interaction.followUp(ephemeral(`Already decided (${d?.decision ?? 'unknown'}) by ${(d?.by ?? []).map((b) => `<@${b.replace(/^discord:/, '')}>`).join(', ') || 'someone else'}.`));
      await audit('already-decided', { decision: d?.decision, by: d?.by });
      return;
    }
    case 'expired':
      await show('expired', []);
      await interaction.followUp(ephemeral('This approval has expired; the playbook applied its default decision.'));
      await audit('expired');
      return;
    case 'failed':
      await interaction.followUp(ephemeral(`This approval was closed: ${result.record.failure?.reason ?? 'failed'}.`));
      await audit('closed');
      return;
    case 'pending-second':
      await show('pending-second', result.record.approvals.map((a) => a.by));
      await interaction.followUp(ephemeral(result.counted ? 'Recorded. A second responder must also choose before it applies.' : 'You already voted; a different responder must confirm.'));
      await audit(result.counted ? 'first-approval' : 'repeat-vote');
      return;
    case 'decided': {
      const decision = result.record.decision!;
      ctx.metrics.approvalsPending.dec();
      const delivery = await deliverDecision(ctx, result.record);
      if (delivery.outcome === 'gone') {
        await show('failed', decision.by, delivery.reason);
        await audit('not-applied', { reason: delivery.reason });
        log.warn('decision could not be applied', { reason: delivery.reason });
        return;
      }
      if (delivery.outcome === 'retry') {
        await show(decision.decision, decision.by, 'Decided, but Step Functions could not be reached; sentinel keeps sending the decision until the playbook takes it.');
        await audit('decided-undelivered', { decision: decision.decision, by: decision.by, reason: delivery.reason });
        log.warn('decision recorded but not yet delivered; it will be sent again', { reason: delivery.reason });
        return;
      }
      await show(decision.decision, decision.by);
      await audit('decided', { decision: decision.decision, by: decision.by });
      ctx.metrics.approvalsDecided.inc({ decision: decision.decision });
      log.info('approval decided', { decision: decision.decision });
      return;
    }
  }
}
