import type { ChatInputCommandInteraction } from 'discord.js';
import { requireResponder } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { isolateOptionsSchema } from './commandOptions.js';
import { planCommand } from './planCommand.js';
import { refuseOptions } from './refuseOptions.js';

/**
 * `/isolate`: validates the options and shows the plan (the action's dry run) ephemerally with
 * Confirm/Cancel. Nothing changes until the responder who ran it confirms, and for a two-person
 * action a different responder confirms too (handleConfirmButton). `terminate` (with a pod) runs
 * terminate-pod instead, `force` and `grace` being its options.
 */
export async function handleIsolateCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, ctx, { attempt: 'run /isolate', what: '/isolate' }))) return;
  const parsed = isolateOptionsSchema.safeParse({
    reason: interaction.options.getString('reason') ?? '',
    node: interaction.options.getString('node') ?? undefined,
    pod: interaction.options.getString('pod') ?? undefined,
    release: interaction.options.getBoolean('release') ?? undefined,
    terminate: interaction.options.getBoolean('terminate') ?? undefined,
    force: interaction.options.getBoolean('force') ?? undefined,
    grace: interaction.options.getInteger('grace') ?? undefined,
  });
  if (!parsed.success) return refuseOptions(interaction, ctx, '/isolate', parsed.error);
  const o = parsed.data;
  const target = o.pod ? `pod ${o.pod.namespace}/${o.pod.pod}` : `node ${o.node}`;
  if (o.terminate && o.pod) {
    // terminate-pod: delete with a grace period (refuses bare pods unless force); the same plan-then-confirm and two-person policy.
    const input = { namespace: o.pod.namespace, pod: o.pod.pod, ...(o.grace !== undefined ? { gracePeriodSeconds: o.grace } : {}), ...(o.force ? { force: true } : {}) };
    await planCommand(interaction, ctx, { command: '/isolate', actionId: 'terminate-pod', input, reason: o.reason, summary: `terminate ${target}` });
    return;
  }
  const actionId = o.pod ? (o.release ? 'release-pod' : 'isolate-pod') : o.release ? 'release-node' : 'isolate-node';
  const input = o.pod ? { namespace: o.pod.namespace, pod: o.pod.pod } : { node: o.node! };
  await planCommand(interaction, ctx, { command: '/isolate', actionId, input, reason: o.reason, summary: `${o.release ? 'release' : 'isolate'} ${target}` });
}
