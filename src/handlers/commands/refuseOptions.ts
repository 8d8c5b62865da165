import type { ChatInputCommandInteraction } from 'discord.js';
import type { z } from 'zod';
import { auditPerson } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { optionProblem } from './commandOptions.js';
import { ephemeralText } from './replies.js';

/** Invalid options: an ephemeral reply naming the first problem, an audit entry and a log line. Nothing runs. */
export async function refuseOptions(interaction: ChatInputCommandInteraction, ctx: HandlerContext, command: string, error: z.ZodError): Promise<void> {
  const problem = optionProblem(error);
  await interaction.reply(ephemeralText(`Cannot run ${command}: ${problem}`));
  await auditPerson(ctx, interaction.user.id, { what: command, outcome: 'refused-invalid-options', detail: { problem } });
  ctx.logger.warn('command refused: invalid options', { interactionId: interaction.id, userId: interaction.user.id, command, reason: problem });
}
