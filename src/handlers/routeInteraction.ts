import { MessageFlags, type ButtonInteraction, type ChatInputCommandInteraction, type Interaction } from 'discord.js';
import { describeError, isUserError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommandName } from '../../commands/index.js';
import type { HandlerContext } from './context.js';
import { checkInteractionPlace, type InteractionPlace } from './checkInteractionPlace.js';
import { handleApprovalButton, parseApprovalCustomId } from './buttons/handleApprovalButton.js';
import { handleConfirmButton, parseConfirmCustomId } from './buttons/handleConfirmButton.js';
import { handleEvidenceCommand } from './commands/handleEvidenceCommand.js';
import { handleIsolateCommand } from './commands/handleIsolateCommand.js';
import { handleUnblockCommand } from './commands/handleUnblockCommand.js';

/** One handler per slash command. */
export const COMMAND_HANDLERS = {
  isolate: handleIsolateCommand,
  unblock: handleUnblockCommand,
  evidence: handleEvidenceCommand,
} satisfies Record<CommandName, (i: ChatInputCommandInteraction, ctx: HandlerContext) => Promise<void>>;

/** One handler per button kind, chosen by the custom_id's prefix. */
export const BUTTON_HANDLERS = {
  apv: async (i: ButtonInteraction, ctx: HandlerContext) => {
    const click = parseApprovalCustomId(i.customId);
    return click ? handleApprovalButton(i, click, ctx) : refuseUnknown(i);
  },
  cfm: async (i: ButtonInteraction, ctx: HandlerContext) => {
    const click = parseConfirmCustomId(i.customId);
    return click ? handleConfirmButton(i, click, ctx) : refuseUnknown(i);
  },
} satisfies Record<string, (i: ButtonInteraction, ctx: HandlerContext) => Promise<void>>;

async function refuseUnknown(i: ButtonInteraction | ChatInputCommandInteraction): Promise<void> {
  await i.reply({ content: 'Unknown or malformed request.', flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

/** What kind of interaction this is, and what it names (command or custom_id), for the audit. */
function describeInteraction(i: Interaction): { kind: string; name?: string } {
  if (i.isButton()) return { kind: 'button', name: i.customId };
  if (i.isAnySelectMenu()) return { kind: 'select-menu', name: i.customId };
  if (i.isChatInputCommand()) return { kind: 'slash-command', name: i.commandName };
  if (i.isContextMenuCommand()) return { kind: 'context-menu-command', name: i.commandName };
  if (i.isAutocomplete()) return { kind: 'autocomplete', name: i.commandName };
  if (i.isModalSubmit()) return { kind: 'modal-submit', name: i.customId };
  return { kind: `type-${i.type}` };
}

/** The interaction's guild and channel, and for a channel outside the incident channel, whether it is a thread under it. */
async function placeOf(i: Interaction, ctx: HandlerContext): Promise<InteractionPlace> {
  const place: InteractionPlace = { guildId: i.guildId, channelId: i.channelId };
  if (i.guildId !== ctx.guildId || i.channelId === null || i.channelId === ctx.channelId) return place;
  // Threads of the incident channel are part of it. Threads are cached with their guild; fetch one that is not.
  const channel = i.channel ?? (await i.client.channels.fetch(i.channelId).catch(() => null));
  if (!channel) return { ...place, threadParentId: null };
  return channel.isThread() ? { ...place, threadParentId: channel.parentId } : place;
}

/**
 * Refuses an interaction from anywhere but the incident channel (or a thread under it) of
 * sentinel's own server: an ephemeral refusal, an audit entry and a warning, nothing else.
 * Returns whether it was refused.
 */
async function refuseOutsideIncidentChannel(interaction: Interaction, ctx: HandlerContext, log: Logger): Promise<boolean> {
  const place = await placeOf(interaction, ctx);
  const check = checkInteractionPlace(place, { guildId: ctx.guildId, channelId: ctx.channelId });
  if (check.allowed) return false;
  const { kind, name } = describeInteraction(interaction);
  const detail = { guildId: place.guildId, channelId: place.channelId, ...(place.threadParentId ? { threadParentId: place.threadParentId } : {}), kind, ...(name ? { name } : {}), reason: check.reason };
  if (interaction.isAutocomplete()) await interaction.respond([]);
  else if (interaction.isRepliable()) {
    await interaction.reply({
      content: `sentinel takes buttons and commands only in its incident channel, on its own server: ${check.reason}. Nothing was done.`,
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  }
  const approvalId = interaction.isButton() ? parseApprovalCustomId(interaction.customId)?.approvalId : undefined;
  await ctx.audit.append({
    at: ctx.now(),
    who: `discord:${interaction.user.id}`,
    what: 'interaction-refused',
    ...(approvalId ? { approvalId } : {}),
    outcome: `refused-${check.code}`,
    detail,
  });
  log.warn('interaction refused: not from the incident channel of the configured guild', detail);
  return true;
}

/**
 * The boundary for interactions: refuses anything from outside the incident
 * channel of the configured guild, routes buttons and slash commands to their
 * handlers, and turns anything thrown into an ephemeral, readable reply and a
 * log line. Other interaction kinds are ignored.
 */
export async function routeInteraction(interaction: Interaction, ctx: HandlerContext): Promise<void> {
  const log = ctx.logger.child({ interactionId: interaction.id, userId: interaction.user.id });
  try {
    if (await refuseOutsideIncidentChannel(interaction, ctx, log)) return;
    if (interaction.isButton()) {
      const prefix = interaction.customId.split(':')[0] ?? '';
      const handler = Object.hasOwn(BUTTON_HANDLERS, prefix) ? BUTTON_HANDLERS[prefix as keyof typeof BUTTON_HANDLERS] : undefined;
      if (!handler) return await refuseUnknown(interaction);
      return await handler(interaction, ctx);
    }
    if (interaction.isChatInputCommand()) {
      const name = interaction.commandName;
      const handler = Object.hasOwn(COMMAND_HANDLERS, name) ? COMMAND_HANDLERS[name as CommandName] : undefined;
      if (!handler) return await refuseUnknown(interaction);
      return await handler(interaction, ctx);
    }
  } catch (err) {
    const text = isUserError(err) ? describeError(err) : 'Something went wrong; it has been logged.';
    log[isUserError(err) ? 'warn' : 'error']('interaction failed', { reason: describeError(err) });
    if (!interaction.isRepliable()) return;
    const payload = { content: text.slice(0, 2000), allowedMentions: { parse: [] as never[] } };
    try {
      if (interaction.deferred || interaction.replied) await interaction.followUp({ ...payload, flags: MessageFlags.Ephemeral });
      else await interaction.reply({ ...payload, flags: MessageFlags.Ephemeral });
    } catch (replyErr) {
      log.warn('could not tell the user about the failure', { reason: describeError(replyErr) });
    }
  }
}
