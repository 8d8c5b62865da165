import { MessageFlags, type ButtonInteraction, type ChatInputCommandInteraction, type Interaction } from 'discord.js';
import { describeError, isUserError } from '../errors.js';
import type { CommandName } from '../../commands/index.js';
import type { HandlerContext } from './context.js';
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

/**
 * The boundary for interactions: routes buttons and slash commands to their
 * handlers, and turns anything thrown into an ephemeral, readable reply and a
 * log line. Other interaction kinds are ignored.
 */
export async function routeInteraction(interaction: Interaction, ctx: HandlerContext): Promise<void> {
  const log = ctx.logger.child({ interactionId: interaction.id, userId: interaction.user.id });
  try {
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
