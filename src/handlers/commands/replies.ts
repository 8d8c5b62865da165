import { MessageFlags, type ChatInputCommandInteraction, type ButtonInteraction } from 'discord.js';
import type { HandlerContext } from '../context.js';
import { isResponder } from '../authorize.js';

export const NO_MENTIONS = { parse: [] as never[] };

export function ephemeralText(content: string) {
  return { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral as const, allowedMentions: NO_MENTIONS };
}

/** Refuses a non-responder with an ephemeral reply and an audit entry; true when allowed. */
export async function requireResponder(interaction: ChatInputCommandInteraction | ButtonInteraction, what: string, ctx: HandlerContext): Promise<boolean> {
  if (isResponder(interaction.member, ctx.responderRoleIds)) return true;
  await interaction.reply(ephemeralText(`You are not allowed to run ${what}: it needs a responder role.`));
  await ctx.audit.append({ at: ctx.now(), who: `discord:${interaction.user.id}`, what, outcome: 'refused-unauthorized' });
  ctx.logger.warn('command refused: not a responder', { interactionId: interaction.id, userId: interaction.user.id, what });
  return false;
}

/** Text for an update or edit of an existing (possibly ephemeral) reply. */
export function replaceText(content: string) {
  return { content: content.slice(0, 2000), embeds: [], components: [], allowedMentions: NO_MENTIONS };
}
