import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { describeError } from '../../errors.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import { readIncidentRecord } from '../../pipeline/incident/readIncidentRecord.js';
import { renderCommandResult } from '../../bot/render/confirmMessage.js';
import { renderReport } from '../../bot/render/reportMessage.js';
import type { HandlerContext } from '../context.js';
import { evidenceCollectOptionsSchema, evidenceShowOptionsSchema, optionProblem } from './commandOptions.js';
import { ephemeralText, replaceText, requireResponder } from './replies.js';

/** How long a download link works. */
const LINK_SECONDS = 15 * 60;

/**
 * `/evidence collect`: copies a file out of a pod into the evidence store and
 * answers (ephemerally) with its SHA-256, size and a short-lived download
 * link. `/evidence show`: the evidence manifest of an incident.
 */
export async function handleEvidenceCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext): Promise<void> {
  if (!(await requireResponder(interaction, '/evidence', ctx))) return;
  const sub = interaction.options.getSubcommand(false);
  const who = `discord:${interaction.user.id}`;
  if (sub === 'collect') {
    const parsed = evidenceCollectOptionsSchema.safeParse({
      namespace: interaction.options.getString('namespace') ?? '',
      pod: interaction.options.getString('pod') ?? '',
      path: interaction.options.getString('path') ?? '',
      container: interaction.options.getString('container') ?? undefined,
    });
    if (!parsed.success) {
      await interaction.reply(ephemeralText(`Cannot run /evidence collect: ${optionProblem(parsed.error)}`));
      return;
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const incidentId = `manual-${interaction.id}`;
    const def = ctx.actions['extract-file'];
    const result = def
      ? await invokeAction(def, parsed.data, { actor: who, incidentId, reason: 'manual /evidence collect' }, ctx.actionDeps)
      : { status: 'failed' as const, summary: 'the extract-file action is not available', details: {} };
    const d = result.details as { bucket?: string; key?: string; sha256?: string; size?: number };
    let link = '';
    if (result.status === 'succeeded' && d.bucket && d.key && ctx.actionDeps.aws.s3) {
      try {
        link = await getSignedUrl(ctx.actionDeps.aws.s3, new GetObjectCommand({ Bucket: d.bucket, Key: d.key }), { expiresIn: LINK_SECONDS });
      } catch (err) {
        ctx.logger.warn('cannot presign the evidence link', { reason: describeError(err) });
      }
    }
    const rendered = renderCommandResult(result, `evidence ${parsed.data.namespace}/${parsed.data.pod}:${parsed.data.path}`);
    const extra = result.status === 'succeeded' ? `sha256 \`${d.sha256}\`, ${d.size} bytes${link ? `\n[Download (15 min)](${link})` : ''}` : '';
    await interaction.editReply({ ...rendered, content: extra.slice(0, 2000) });
    await ctx.audit.append({ at: ctx.now(), who, what: '/evidence collect', incidentId, outcome: result.status, detail: { ...parsed.data, sha256: d.sha256, key: d.key } });
    return;
  }
  if (sub === 'show') {
    const parsed = evidenceShowOptionsSchema.safeParse({ incident: interaction.options.getString('incident') ?? '' });
    if (!parsed.success) {
      await interaction.reply(ephemeralText(`Cannot run /evidence show: ${optionProblem(parsed.error)}`));
      return;
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const bucket = ctx.actionDeps.settings.evidenceBucket;
    const s3 = ctx.actionDeps.aws.s3;
    if (!bucket || !s3) {
      await interaction.editReply(replaceText('No evidence store is configured.'));
      return;
    }
    const found = await readIncidentRecord(s3, bucket, parsed.data.incident);
    if (!found) {
      await interaction.editReply(replaceText(`No recorded incident ${parsed.data.incident}.`));
      return;
    }
    await interaction.editReply(renderReport({ incident: found.record, record: { location: found.location } }));
    await ctx.audit.append({ at: ctx.now(), who, what: '/evidence show', incidentId: parsed.data.incident, outcome: 'shown' });
    return;
  }
  await interaction.reply(ephemeralText('Use /evidence collect or /evidence show.'));
}
