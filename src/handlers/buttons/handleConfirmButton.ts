import type { ButtonInteraction } from 'discord.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import { renderCommandResult } from '../../bot/render/confirmMessage.js';
import type { HandlerContext } from '../context.js';
import { ephemeralText, replaceText, requireResponder } from '../commands/replies.js';

/** Parses `cfm:<id>:<yes|no>`. */
export function parseConfirmCustomId(customId: string): { confirmId: string; answer: 'yes' | 'no' } | undefined {
  const m = /^cfm:([A-Za-z0-9_-]{8,40}):(yes|no)$/.exec(customId);
  return m ? { confirmId: m[1]!, answer: m[2] as 'yes' | 'no' } : undefined;
}

/** Confirm/Cancel under a slash command's preflight: only its issuer (still a responder) may answer, once. */
export async function handleConfirmButton(interaction: ButtonInteraction, click: { confirmId: string; answer: 'yes' | 'no' }, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, 'a confirmation', ctx))) return;
  const pending = ctx.confirmations.peek(click.confirmId);
  if (!pending) {
    await interaction.update(replaceText('This confirmation has expired: run the command again.'));
    return;
  }
  if (pending.userId !== interaction.user.id) {
    await interaction.reply(ephemeralText('Only the responder who ran the command can confirm it.'));
    return;
  }
  ctx.confirmations.take(click.confirmId);
  const who = `discord:${interaction.user.id}`;
  if (click.answer === 'no') {
    await interaction.update(replaceText(`Cancelled: ${pending.summary}.`));
    await ctx.audit.append({ at: ctx.now(), who, what: pending.actionId, incidentId: pending.incidentId, outcome: 'cancelled' });
    return;
  }
  await interaction.deferUpdate();
  const def = ctx.actions[pending.actionId];
  const result = def
    ? await invokeAction(def, pending.input, { actor: who, incidentId: pending.incidentId, reason: pending.reason }, ctx.actionDeps)
    : { status: 'failed' as const, summary: `the ${pending.actionId} action is not available`, details: {} };
  await interaction.editReply(renderCommandResult(result, pending.summary));
  await ctx.audit.append({ at: ctx.now(), who, what: pending.actionId, incidentId: pending.incidentId, outcome: result.status, detail: { summary: result.summary, input: pending.input, reason: pending.reason } });
}
