import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import { renderCommandResult } from '../../bot/render/confirmMessage.js';
import type { HandlerContext } from '../context.js';
import { optionProblem, unblockOptionsSchema } from './commandOptions.js';
import { ephemeralText, requireResponder } from './replies.js';

/** `/unblock ip [port]`: removes only the egress deny rules sentinel created for that IP. */
export async function handleUnblockCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, '/unblock', ctx))) return;
  const parsed = unblockOptionsSchema.safeParse({ ip: interaction.options.getString('ip') ?? '', port: interaction.options.getInteger('port') ?? undefined });
  if (!parsed.success) {
    await interaction.reply(ephemeralText(`Cannot run /unblock: ${optionProblem(parsed.error)}`));
    return;
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const def = ctx.actions['unblock-egress'];
  const who = `discord:${interaction.user.id}`;
  const incidentId = `manual-${interaction.id}`;
  const result = def
    ? await invokeAction(def, parsed.data, { actor: who, incidentId, reason: 'manual /unblock' }, ctx.actionDeps)
    : { status: 'failed' as const, summary: 'the unblock-egress action is not available', details: {} };
  const { ip, port } = parsed.data;
  await interaction.editReply(renderCommandResult(result, `unblock ${ip}${port ? ` port ${port}` : ''}`));
  await ctx.audit.append({ at: ctx.now(), who, what: '/unblock', incidentId, outcome: result.status, detail: { ip, port, summary: result.summary } });
}
