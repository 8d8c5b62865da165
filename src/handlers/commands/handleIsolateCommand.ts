import type { ChatInputCommandInteraction } from 'discord.js';
import { requireResponder } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { isolateOptionsSchema } from './commandOptions.js';
import { planCommand } from './planCommand.js';
import { refuseOptions } from './refuseOptions.js';

/**
 * `/isolate`: validates the options and shows the plan (the action's dry run) ephemerally with
 * Confirm/Cancel. Nothing changes until the responder who ran it confirms, and for a two-person
 * action a different responder confirms too (handleConfirmButton).
 */
export async function handleIsolateCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, ctx, { attempt: 'run /isolate', what: '/isolate' }))) return;
  const parsed = isolateOptionsSchema.safeParse({
    reason: interaction.options.getString('reason') ?? '',
    node: interaction.options.getString('node') ?? undefined,
    pod: interaction.options.getString('pod') ?? undefined,
    release: interaction.options.getBoolean('release') ?? undefined,
  });
  if (!parsed.success) return refuseOptions(interaction, ctx, '/isolate', parsed.error);
  const o = parsed.data;
  const actionId = o.pod ? (o.release ? 'release-pod' : 'isolate-pod') : o.release ? 'release-node' : 'isolate-node';
  const input = o.pod ? { namespace: o.pod.namespace, pod: o.pod.pod } : { node: o.node! };
  const target = o.pod ? `pod ${o.pod.namespace}/${o.pod.pod}` : `node ${o.node}`;
  await planCommand(interaction, ctx, { command: '/isolate', actionId, input, reason: o.reason, summary: `${o.release ? 'release' : 'isolate'} ${target}` });
}
