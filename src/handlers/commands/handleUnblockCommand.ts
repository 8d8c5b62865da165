import type { ChatInputCommandInteraction } from 'discord.js';
import { requireResponder } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { unblockOptionsSchema } from './commandOptions.js';
import { planCommand } from './planCommand.js';
import { refuseOptions } from './refuseOptions.js';

/**
 * `/unblock ip [port]` or `/unblock block:<id>`: removes only the egress deny rules sentinel created
 * for that IP, or the one block record named (its id, as reports show it). Like every
 * command that changes something, it shows the plan (unblock-egress's dry run) and waits for
 * Confirm (and a second responder for a two-person action): see planCommand.
 */
export async function handleUnblockCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, ctx, { attempt: 'run /unblock', what: '/unblock' }))) return;
  // The options: unblock-egress's input and a one-line summary of what it will lift.
  const parsed = unblockOptionsSchema.safeParse({
    ip: interaction.options.getString('ip') ?? undefined,
    port: interaction.options.getInteger('port') ?? undefined,
    block: interaction.options.getString('block') ?? undefined,
  });
  if (!parsed.success) return refuseOptions(interaction, ctx, '/unblock', parsed.error);
  const { ip, port, block } = parsed.data;
  const summary = block ? `unblock block ${block}` : `unblock ${ip}${port ? ` port ${port}` : ''}`;
  await planCommand(interaction, ctx, { command: '/unblock', actionId: 'unblock-egress', input: parsed.data, reason: 'manual /unblock', summary });
}
