import { MessageFlags, type APIEmbed, type ButtonInteraction } from 'discord.js';
import { renderDecisionOnMessage } from '../render/decisionOnMessage.js';
import { voteRefusalText } from '../../policy/checkVote.js';
import type { HandlerContext } from '../context.js';
import { auditPerson, requireResponder } from '../authorize.js';
import { deliverDecision } from '../deliverDecision.js';
import { describeError } from '../../errors.js';

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
 * ephemeral refusal, audited: the same check as every command and confirmation).
 * The two-person rule is the store's: a repeat vote, or a vote by whoever started
 * the action, is refused and audited. The store decides atomically, so of two
 * simultaneous clicks exactly one wins; the other is told who decided. The
 * decision resumes the playbook with SendTaskSuccess; an execution that no
 * longer waits is shown on the message; a decision Step Functions did not take
 * (outage, crash) stays recorded and is sent again by redeliverDecisions.
 * Acknowledged within Discord's 3 s.
 */
export async function handleApprovalButton(interaction: ButtonInteraction, click: ApprovalClick, ctx: HandlerContext): Promise<void> {
  const userId = interaction.user.id;
  const log = ctx.logger.child({ interactionId: interaction.id, approvalId: click.approvalId, userId });
  const what = `approval-${click.choice}`;
  const audit = (outcome: string, detail?: unknown) => auditPerson(ctx, userId, { what, approvalId: click.approvalId, outcome, ...(detail ? { detail } : {}) });

  if (!(await requireResponder(interaction, ctx, { attempt: 'decide approvals', what, approvalId: click.approvalId }))) return;
  await interaction.deferUpdate();
  const at = ctx.now();
  const result = await ctx.approvals.decide(click.approvalId, { by: `discord:${userId}`, decision: click.choice, at });
  const embeds = interaction.message.embeds.map((e) => e.toJSON() as APIEmbed);
  const show = async (decision: Parameters<typeof renderDecisionOnMessage>[0]['decision'], by: readonly string[], note?: string) => {
    await interaction.editReply(renderDecisionOnMessage({ approvalId: click.approvalId, embeds, decision, by, at, ...(note ? { note } : {}) }));
    // Recorded on the outbox's copy of the message too: a change of its own still to be sent (a
    // late preflight's plan) is then sent with this outcome on it instead of landing over it. Not
    // waited for: the outcome is set in memory at once (the sender sees it), written to disk after.
    void ctx.outbox.showApprovalOutcome(click.approvalId, { decision, by, at, ...(note ? { note } : {}) }, { shown: true }).catch((err: unknown) => log.warn('the outbox could not record what the approval message shows', { reason: describeError(err) }));
  };

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
      await audit(result.counted ? 'first-approval' : 'refused-already-voted');
      return;
    case 'refused':
      await interaction.followUp(ephemeral(voteRefusalText(result.reason)));
      await audit(`refused-${result.reason}`, { votes: result.record.approvals.map((a) => a.by) });
      log.warn('approval vote refused', { reason: result.reason });
      return;
    case 'decided': {
      const decision = result.record.decision!;
      ctx.metrics.approvalsPending.dec();
      // The person's decision is audited when it is recorded, before the playbook gets it: the steps it
      // resumes audit after it, and a delivery that fails is audited as its own entry below.
      await audit('decided', { decision: decision.decision, by: decision.by });
      ctx.metrics.approvalsDecided.inc({ decision: decision.decision });
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
      log.info('approval decided', { decision: decision.decision });
      return;
    }
  }
}
