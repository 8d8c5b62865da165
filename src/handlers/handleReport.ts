import { describeError } from '../errors.js';
import { buildIncidentRecord } from '../pipeline/incident/incidentRecord.js';
import { renderReportFollowUps, type ReportInput } from './render/reportMessage.js';
import { incidentSlotKey, shortId, type ViewOf } from './ports/outboxSlot.js';
import type { IntakeMessage } from './ports/intake.js';
import type { ReportMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { refuseForeignIncident } from './ownIncident.js';
import { refuseMessage } from './refuseMessage.js';

/**
 * The end of a playbook: the incident report (route, each action and its
 * result, evidence with hashes, the decision trail, where it is recorded) as
 * the incident's one message, with a thread for follow-ups. Recorded in the
 * outbox (report lane) and the message deleted from the queue: the sender shows
 * it when Discord takes it, however long Discord is down, and nothing recorded
 * later of an earlier kind (a counter edit) can replace it. A report updates
 * only its own execution's incident, and never one whose report is already recorded.
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
    const report: ReportInput = { incident: record, ...(location ? { record: { location } } : {}) };
    const failed = Boolean(input.error) || input.actions.some((a) => a.status === 'failed');
    // What the report shows (the record without the raw event, which it never shows).
    const { event: _event, ...shown } = record;
    const view: ViewOf<'report'> = { kind: 'report', incidentId: input.incidentId, failed, incident: shown as unknown as ViewOf<'report'>['incident'], ...(location ? { record: { location } } : {}) };
    const existing = state?.channelId && state.messageId ? { channelId: state.channelId, messageId: state.messageId } : undefined;
    await ctx.outbox.showIncident(input.incidentId, view, { existing });
    // Lines that do not fit go to the message's thread (not shown when the incident went into a storm digest).
    const rule = String((input.triage as { rule?: unknown }).rule ?? 'incident');
    const followUps = renderReportFollowUps(report);
    for (const [i, f] of followUps.entries()) {
      await ctx.outbox.post(`report-${shortId(input.incidentId)}-${i}`, f, { threadOf: incidentSlotKey(input.incidentId), threadName: `${input.incidentId} ${rule}`.slice(0, 100), whenFolded: 'drop' }, 'report');
    }
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
