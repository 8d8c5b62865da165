import type { ButtonInteraction } from 'discord.js';
import { describeError } from '../../errors.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import { renderCommandResult, renderSecondConfirmation } from '../render/confirmMessage.js';
import type { PendingConfirmation } from '../../stores/confirmationStore.js';
import { voteRefusalText } from '../../policy/checkVote.js';
import { auditPerson, requireResponder } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { presignEvidence } from '../commands/presignEvidence.js';
import { ephemeralText, replaceText } from '../commands/replies.js';

/** Parses `cfm:<id>:<yes|no>`. */
export function parseConfirmCustomId(customId: string): { confirmId: string; answer: 'yes' | 'no' } | undefined {
  const m = /^cfm:([A-Za-z0-9_-]{8,40}):(yes|no)$/.exec(customId);
  return m ? { confirmId: m[1]!, answer: m[2] as 'yes' | 'no' } : undefined;
}

const EXPIRED = 'This confirmation has expired: run the command again.';
const NOT_INITIATOR = 'Only the responder who ran the command can confirm it.';

/**
 * Confirm/Cancel under a slash command's plan, and under the request for a second responder. The
 * same policy as approvals: responders only (refusals audited), the confirmation store decides
 * who counts (the initiator first; for a two-person action then a different responder, never the
 * initiator again), and exactly one click runs the action. In observe mode it runs as a dry run
 * and the result says that nothing changed.
 */
export async function handleConfirmButton(interaction: ButtonInteraction, click: { confirmId: string; answer: 'yes' | 'no' }, ctx: HandlerContext): Promise<void> {
  const seen = ctx.confirmations.peek(click.confirmId);
  const what = seen?.command ?? 'confirmation';
  const verb = click.answer === 'yes' ? 'confirm' : 'cancel';
  if (!(await requireResponder(interaction, ctx, { attempt: `${verb} ${seen?.command ?? 'a command'}`, what, ...(seen ? { incidentId: seen.incidentId } : {}) }))) return;
  const userId = interaction.user.id;
  const who = `discord:${userId}`;
  const log = ctx.logger.child({ interactionId: interaction.id, userId, ...(seen ? { incidentId: seen.incidentId, actionId: seen.actionId } : {}) });
  const audit = (item: PendingConfirmation | undefined, outcome: string, detail: Record<string, unknown> = {}) =>
    auditPerson(ctx, userId, { what: item?.command ?? what, outcome, incidentId: item?.incidentId, detail: { ...(item ? { actionId: item.actionId } : {}), ...detail } });

  if (click.answer === 'no') {
    const r = ctx.confirmations.cancel(click.confirmId, who);
    if (r.outcome === 'expired') {
      await interaction.update(replaceText(EXPIRED));
      await audit(seen, 'expired');
      return;
    }
    if (r.outcome === 'refused') {
      await interaction.reply(ephemeralText(NOT_INITIATOR));
      await audit(r.item, 'refused-not-initiator');
      return;
    }
    const byOther = r.item.initiatedBy !== who;
    await interaction.update(replaceText(`Cancelled${byOther ? ` by <@${userId}>` : ''}: ${r.item.summary}. Nothing was changed.`));
    await audit(r.item, 'cancelled', { summary: r.item.summary });
    return;
  }

  const r = ctx.confirmations.confirm(click.confirmId, who);
  switch (r.outcome) {
    case 'expired':
      await interaction.update(replaceText(EXPIRED));
      await audit(seen, 'expired');
      return;
    case 'refused':
      await interaction.reply(ephemeralText(r.reason === 'not-initiator' ? NOT_INITIATOR : voteRefusalText(r.reason)));
      await audit(r.item, `refused-${r.reason}`, { confirmedBy: r.item.confirmations.map((c) => c.by) });
      log.warn('confirmation refused', { reason: r.reason });
      return;
    case 'pending-second':
      await askSecondResponder(interaction, r.item, ctx);
      return;
    case 'confirmed':
      await runConfirmed(interaction, r.item, ctx);
      return;
  }
}

/** The initiator confirmed a two-person action: their plan waits, and a request for a second responder goes to the channel. */
async function askSecondResponder(interaction: ButtonInteraction, item: PendingConfirmation, ctx: HandlerContext): Promise<void> {
  const userId = interaction.user.id;
  await interaction.deferUpdate();
  const observe = ctx.bot.mode === 'observe';
  const def = ctx.actions[item.actionId];
  // The plan again, as it stands now, for the second responder to judge.
  const preflight: ActionResult<object> = def
    ? await invokeAction(def, item.input, { actor: item.initiatedBy, incidentId: item.incidentId, dryRun: true, reason: item.reason }, ctx.actionDeps)
    : { status: 'failed', summary: `the ${item.actionId} action is not available`, details: {} };
  try {
    const posted = await ctx.discord.post(
      ctx.channelId,
      renderSecondConfirmation({ confirmId: item.confirmId, command: item.summary, slashCommand: item.command, initiatedBy: item.initiatedBy, reason: item.reason, preflight, expiresAt: new Date(item.expiresAt), observe }),
    );
    ctx.confirmations.attachMessage(item.confirmId, posted.channelId, posted.messageId);
  } catch (err) {
    ctx.confirmations.cancel(item.confirmId, item.initiatedBy);
    await interaction.editReply(replaceText(`Could not ask for a second responder (${describeError(err)}). Nothing was changed: run the command again.`));
    await auditPerson(ctx, userId, { what: item.command, outcome: 'failed', incidentId: item.incidentId, detail: { actionId: item.actionId, error: describeError(err) } });
    ctx.logger.warn('could not post the request for a second responder', { incidentId: item.incidentId, reason: describeError(err) });
    return;
  }
  await interaction.editReply(replaceText(`Confirmed by you: ${item.summary}. A different responder must confirm too; the request is posted in the channel. Nothing changes until then.`));
  await auditPerson(ctx, userId, {
    what: item.command,
    outcome: 'confirmed-awaiting-second',
    incidentId: item.incidentId,
    detail: { actionId: item.actionId, input: item.input, reason: item.reason, confirmedBy: item.confirmations.map((c) => c.by) },
  });
}

/** Every required confirmation is in: runs the action (a dry run in observe mode) and shows the outcome where the last click was. */
async function runConfirmed(interaction: ButtonInteraction, item: PendingConfirmation, ctx: HandlerContext): Promise<void> {
  await interaction.deferUpdate();
  const observe = ctx.bot.mode === 'observe';
  const confirmedBy = item.confirmations.map((c) => c.by);
  const def = ctx.actions[item.actionId];
  const result: ActionResult<object> = def
    ? await invokeAction(def, item.input, { actor: item.initiatedBy, incidentId: item.incidentId, reason: item.reason, ...(observe ? { dryRun: true } : {}) }, ctx.actionDeps)
    : { status: 'failed', summary: `the ${item.actionId} action is not available`, details: {} };
  const rendered = renderCommandResult(result, item.summary, { observe, confirmedBy });
  // Evidence: its hash and size for everyone who sees the outcome, the download link only ephemerally.
  const evidence = item.actionId === 'extract-file' ? await presignEvidence(result, ctx) : { facts: '' };
  const privately = item.confirmations.length === 1; // the outcome replaces the initiator's ephemeral plan
  const link = evidence.link ? `\n[Download (15 min)](${evidence.link})` : '';
  await interaction.editReply({ ...rendered, content: `${evidence.facts}${privately ? link : ''}`.slice(0, 2000) });
  if (!privately && link) await interaction.followUp(ephemeralText(`${evidence.facts}${link}`));
  await auditPerson(ctx, interaction.user.id, {
    what: item.command,
    outcome: observe ? 'observed' : result.status,
    incidentId: item.incidentId,
    detail: {
      actionId: item.actionId,
      input: item.input,
      reason: item.reason,
      summary: result.summary,
      confirmedBy,
      ...(observe ? { dryRun: true, status: result.status } : {}),
      ...(item.actionId === 'extract-file' ? { sha256: (result.details as { sha256?: string }).sha256, key: (result.details as { key?: string }).key } : {}),
    },
  });
}
