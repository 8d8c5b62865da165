import { describeError } from '../errors.js';
import { incidentSlotKey } from './ports/outboxSlot.js';
import type { IntakeMessage } from './ports/intake.js';
import type { NotifyMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { refuseForeignIncident } from './ownIncident.js';
import { refuseMessage } from './refuseMessage.js';

/**
 * An alert (GuardDuty notify route, and the first step of EC2 forensics): the
 * finding's own alert embed, recorded in the outbox (posted by its sender, so
 * this never waits on Discord). Only the notify route ends here; a forensics
 * incident goes on to its report, which replaces the alert. An alert updates only its own
 * execution's incident, and never one whose report is already recorded.
 */
export async function handleNotify(msg: NotifyMessage, meta: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ incidentId: msg.incident.incidentId });
  try {
    const state = await ctx.incidents.get(msg.incident.incidentId);
    const foreign = state && refuseForeignIncident(state, msg.incident.executionName);
    if (foreign) return await refuseMessage(ctx, meta, { kind: 'notify', reason: foreign, incidentId: msg.incident.incidentId });
    const recorded = ctx.outbox.has(incidentSlotKey(msg.incident.incidentId));
    if ((recorded || state?.messageId) && (state?.status === 'done' || state?.status === 'failed')) return 'done';
    const terminal = (msg.incident.triage as { route?: unknown }).route === 'notify';
    const existing = state?.channelId && state.messageId ? { channelId: state.channelId, messageId: state.messageId } : undefined;
    // The alert never replaces a report (the outbox keeps the later view).
    await ctx.outbox.showIncident(msg.incident.incidentId, { kind: 'alert', incidentId: msg.incident.incidentId, triage: msg.incident.triage }, { existing });
    if (state && terminal) await ctx.incidents.setStatus(state.incidentId, 'done');
    ctx.metrics.messagesHandled.inc({ kind: 'notify', outcome: 'recorded' });
    return 'done';
  } catch (err) {
    log.error('alert failed; will retry', { reason: describeError(err) });
    ctx.metrics.messagesFailed.inc({ kind: 'notify' });
    return 'retry';
  }
}
