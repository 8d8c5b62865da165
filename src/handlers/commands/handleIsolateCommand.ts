import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import { renderConfirmation } from '../../bot/render/confirmMessage.js';
import type { HandlerContext } from '../context.js';
import { isolateOptionsSchema, optionProblem } from './commandOptions.js';
import { ephemeralText, replaceText, requireResponder } from './replies.js';

/**
 * `/isolate`: validates the options, runs the action's preflight as a dry run
 * and shows it in an ephemeral confirmation (Confirm/Cancel). Nothing changes
 * until the same responder confirms.
 */
export async function handleIsolateCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, '/isolate', ctx))) return;
  const parsed = isolateOptionsSchema.safeParse({
    reason: interaction.options.getString('reason') ?? '',
    node: interaction.options.getString('node') ?? undefined,
    pod: interaction.options.getString('pod') ?? undefined,
    release: interaction.options.getBoolean('release') ?? undefined,
  });
  if (!parsed.success) {
    await interaction.reply(ephemeralText(`Cannot run /isolate: ${optionProblem(parsed.error)}`));
    return;
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const o = parsed.data;
  const actionId = o.pod ? (o.release ? 'release-pod' : 'isolate-pod') : o.release ? 'release-node' : 'isolate-node';
  const input = o.pod ? { namespace: o.pod.namespace, pod: o.pod.pod } : { node: o.node! };
  const target = o.pod ? `pod ${o.pod.namespace}/${o.pod.pod}` : `node ${o.node}`;
  const incidentId = `manual-${interaction.id}`;
  const def = ctx.actions[actionId];
  if (!def) {
    await interaction.editReply(replaceText(`The ${actionId} action is not available.`));
    return;
  }
  const preflight = await invokeAction(def, input, { actor: `discord:${interaction.user.id}`, incidentId, dryRun: true, reason: o.reason }, ctx.actionDeps);
  const pending = ctx.confirmations.add({ userId: interaction.user.id, actionId, input, reason: o.reason, incidentId, summary: `${o.release ? 'release' : 'isolate'} ${target}` });
  const { flags: _flags, ...payload } = renderConfirmation({ confirmId: pending.confirmId, command: pending.summary, preflight });
  await interaction.editReply(payload);
  await ctx.audit.append({ at: ctx.now(), who: `discord:${interaction.user.id}`, what: '/isolate', incidentId, outcome: 'preflight', detail: { actionId, input, reason: o.reason, preflight: preflight.status } });
}
