import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { readIncidentRecord } from '../../pipeline/incident/readIncidentRecord.js';
import { renderReport } from '../render/reportMessage.js';
import { auditPerson, requireResponder } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { evidenceCaptureOptionsSchema, evidenceCollectOptionsSchema, evidenceLogsOptionsSchema, evidenceShowOptionsSchema } from './commandOptions.js';
import { planCommand } from './planCommand.js';
import { evidenceView } from './presignEvidence.js';
import { refuseOptions } from './refuseOptions.js';
import { ephemeralText, replaceText } from './replies.js';

/**
 * `/evidence collect`: copies a file out of a pod into the evidence store. It execs in the pod and
 * writes to S3, so like every command that changes something it shows the plan first and runs on
 * Confirm (handleConfirmButton answers with the SHA-256, size and a short-lived download link).
 * `/evidence logs` (collect-pod-logs) and `/evidence capture` (capture-network: an ephemeral debug
 * container running a bounded tcpdump) go the same way: plan, Confirm, the two-person policy.
 * `/evidence show`: the evidence manifest of an incident; read-only, but still for responders only,
 * and audited.
 */
export async function handleEvidenceCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  const sub = interaction.options.getSubcommand(false);
  const command = sub === 'collect' || sub === 'show' || sub === 'logs' || sub === 'capture' ? `/evidence ${sub}` : '/evidence';
  if (!(await requireResponder(interaction, ctx, { attempt: `run ${command}`, what: command }))) return;
  if (sub === 'collect') {
    const parsed = evidenceCollectOptionsSchema.safeParse({
      namespace: interaction.options.getString('namespace') ?? '',
      pod: interaction.options.getString('pod') ?? '',
      path: interaction.options.getString('path') ?? '',
      container: interaction.options.getString('container') ?? undefined,
    });
    if (!parsed.success) return refuseOptions(interaction, ctx, command, parsed.error);
    const { namespace, pod, path } = parsed.data;
    await planCommand(interaction, ctx, { command, actionId: 'extract-file', input: parsed.data, reason: 'manual /evidence collect', summary: `evidence ${namespace}/${pod}:${path}` });
    return;
  }
  if (sub === 'logs') {
    const parsed = evidenceLogsOptionsSchema.safeParse({
      namespace: interaction.options.getString('namespace') ?? '',
      pod: interaction.options.getString('pod') ?? '',
      container: interaction.options.getString('container') ?? undefined,
      previous: interaction.options.getBoolean('previous') ?? undefined,
      tail: interaction.options.getInteger('tail') ?? undefined,
    });
    if (!parsed.success) return refuseOptions(interaction, ctx, command, parsed.error);
    const { namespace, pod } = parsed.data;
    await planCommand(interaction, ctx, { command, actionId: 'collect-pod-logs', input: parsed.data, reason: 'manual /evidence logs', summary: `logs of ${namespace}/${pod}` });
    return;
  }
  if (sub === 'capture') {
    const parsed = evidenceCaptureOptionsSchema.safeParse({
      namespace: interaction.options.getString('namespace') ?? '',
      pod: interaction.options.getString('pod') ?? '',
      seconds: interaction.options.getInteger('seconds') ?? undefined,
      packets: interaction.options.getInteger('packets') ?? undefined,
      host: interaction.options.getString('host') ?? undefined,
      port: interaction.options.getInteger('port') ?? undefined,
    });
    if (!parsed.success) return refuseOptions(interaction, ctx, command, parsed.error);
    const { namespace, pod } = parsed.data;
    await planCommand(interaction, ctx, { command, actionId: 'capture-network', input: parsed.data, reason: 'manual /evidence capture', summary: `network capture of ${namespace}/${pod}` });
    return;
  }
  if (sub === 'show') {
    const parsed = evidenceShowOptionsSchema.safeParse({ incident: interaction.options.getString('incident') ?? '' });
    if (!parsed.success) return refuseOptions(interaction, ctx, command, parsed.error);
    const incidentId = parsed.data.incident;
    const audit = (outcome: string) => auditPerson(ctx, interaction.user.id, { what: command, incidentId, outcome });
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const bucket = ctx.actionDeps.settings.evidenceBucket;
    const s3 = ctx.actionDeps.aws.s3;
    if (!bucket || !s3) {
      await interaction.editReply(replaceText('No evidence store is configured.'));
      await audit('no-evidence-store');
      return;
    }
    const found = await readIncidentRecord(s3, bucket, incidentId);
    if (!found) {
      await interaction.editReply(replaceText(`No recorded incident ${incidentId}.`));
      await audit('not-found');
      return;
    }
    // Embedded mode: the local paths on the bot's host, not s3:// locations (evidenceView).
    const view = evidenceView(found, s3);
    await interaction.editReply(renderReport({ incident: view.record, record: { location: view.location } }));
    await audit('shown');
    return;
  }
  await interaction.reply(ephemeralText('Use /evidence collect, /evidence logs, /evidence capture or /evidence show.'));
}
