import { MessageFlags } from 'discord.js';

export const NO_MENTIONS = { parse: [] as never[] };

export function ephemeralText(content: string) {
  return { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral as const, allowedMentions: NO_MENTIONS };
}

/** Text for an update or edit of an existing (possibly ephemeral) reply. */
export function replaceText(content: string) {
  return { content: content.slice(0, 2000), embeds: [], components: [], allowedMentions: NO_MENTIONS };
}
