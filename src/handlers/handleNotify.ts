import { describeError } from '../errors.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import { renderNotifyAlert } from '../bot/render/notifyMessage.js';
import type { IntakeMessage } from '../bot/intake/intake.js';
import type { NotifyMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { refuseForeignIncident } from './ownIncident.js';
import { refuseMessage } from './refuseMessage.js';

/**
 * An alert (GuardDuty notify route, and the first step of EC2 forensics): the
 * finding's own alert embed. Only the notify route ends here; a forensics
 * incident goes on to its report, which replaces the alert. An alert updates only its own
 * execution's incident, and never one whose report is already posted.
 */
export async function handleNotify(msg: NotifyMessage, meta: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ incidentId: msg.incident.incidentId });
  try {
    const state = await ctx.incidents.get(msg.incident.incidentId);
    const foreign = state && refuseForeignIncident(state, msg.incident.executionName);
    if (foreign) return await refuseMessage(ctx, meta, { kind: 'notify', reason: foreign, incidentId: msg.incident.incidentId });
    if (state?.messageId && (state.status === 'done' || state.status === 'failed')) return 'done';
    const terminal = (msg.incident.triage as { route?: unknown }).route === 'notify';
    const payload = renderNotifyAlert(msg.incident.triage as unknown as TriageResult);
    if (state?.channelId && state.messageId) await ctx.discord.edit(state.channelId, state.messageId, payload);
    else {
      const posted = await ctx.discord.post(ctx.channelId, payload);
      if (state) await ctx.incidents.attachMessage(state.incidentId, posted.channelId, posted.messageId);
    }
    if (state && terminal) await ctx.incidents.setStatus(state.incidentId, 'done');
    ctx.metrics.messagesHandled.inc({ kind: 'notify', outcome: 'posted' });
    return 'done';
  } catch (err) {
    log.error('alert failed; will retry', { reason: describeError(err) });
    ctx.metrics.messagesFailed.inc({ kind: 'notify' });
    return 'retry';
  }
}
