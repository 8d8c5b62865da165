import { describeError } from '../errors.js';
import { buildIncidentRecord } from '../pipeline/incident/incidentRecord.js';
import { renderReport, renderReportFollowUps } from '../bot/render/reportMessage.js';
import type { IntakeMessage } from '../bot/intake/intake.js';
import type { ReportMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { refuseForeignIncident } from './ownIncident.js';
import { refuseMessage } from './refuseMessage.js';

/**
 * The end of a playbook: the incident report (route, each action and its
 * result, evidence with hashes, the decision trail, where it is recorded) as
 * the incident's one message, with a thread for follow-ups. A report updates only its own
 * execution's incident, and never one whose report is already posted.
 */
export async function handleReport(msg: ReportMessage, meta: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const input = msg.incident;
  const log = ctx.logger.child({ incidentId: input.incidentId });
  try {
    const executionName = msg.executionName ?? input.executionName;
    const state = await ctx.incidents.get(input.incidentId);
    const foreign =
      executionName !== input.executionName
        ? `the report of execution ${executionName} carries the incident of execution ${input.executionName}`
        : state && refuseForeignIncident(state, executionName);
    if (foreign) return await refuseMessage(ctx, meta, { kind: 'report', reason: foreign, incidentId: input.incidentId });
    if (state?.status === 'done' || state?.status === 'failed') {
      log.info('report already posted');
      return 'done';
    }
    const record = buildIncidentRecord(input, 'sentinel', ctx.now());
    const recorded = input.actions.find((a) => a.action === 'record-incident')?.details as { location?: string } | undefined;
    const location = msg.record?.location ?? recorded?.location;
    const report = { incident: record, ...(location ? { record: { location } } : {}) };
    const payload = renderReport(report);
    let channelId = state?.channelId;
    let messageId = state?.messageId;
    if (channelId && messageId) {
      await ctx.discord.edit(channelId, messageId, payload);
    } else {
      const posted = await ctx.discord.post(ctx.channelId, payload);
      channelId = posted.channelId;
      messageId = posted.messageId;
      if (state) await ctx.incidents.attachMessage(state.incidentId, channelId, messageId);
    }
    const followUps = renderReportFollowUps(report);
    if (followUps.length) {
      const rule = String((input.triage as { rule?: unknown }).rule ?? 'incident');
      const threadId = await ctx.discord.thread(channelId, messageId, `${input.incidentId} ${rule}`);
      for (const f of followUps) await ctx.discord.post(threadId, f);
    }
    const failed = Boolean(input.error) || input.actions.some((a) => a.status === 'failed');
    if (state) await ctx.incidents.setStatus(state.incidentId, failed ? 'failed' : 'done');
    await ctx.audit.append({ at: ctx.now(), who: 'sentinel', what: 'report', incidentId: input.incidentId, outcome: failed ? 'failed' : 'done', detail: { location } });
    ctx.metrics.messagesHandled.inc({ kind: 'report', outcome: failed ? 'failed' : 'done' });
    return 'done';
  } catch (err) {
    log.error('report failed; will retry', { reason: describeError(err) });
    ctx.metrics.messagesFailed.inc({ kind: 'report' });
    return 'retry';
  }
}
