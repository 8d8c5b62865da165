import type { IntakeMessage } from './ports/intake.js';
import type { HandlerContext, HandlerOutcome } from './context.js';

export interface Refusal {
  /** The message kind as far as it is known (`unknown` before the body is read). */
  kind: string;
  reason: string;
  /** What the audit entry is called; `message-refused` by default. */
  what?: string;
  incidentId?: string;
}

/**
 * Refuses a message: nothing runs; a warning is logged and an audit entry is written with the
 * sender, the queue and the reason (never the body: it may carry a task token), and the message
 * is deleted. If the audit cannot be written the error propagates and the message is retried,
 * so no refusal goes unrecorded.
 */
export async function refuseMessage(ctx: HandlerContext, message: IntakeMessage, refusal: Refusal): Promise<HandlerOutcome> {
  const sender = message.senderId ?? 'unknown';
  const transport = message.transport ?? 'sqs';
  ctx.logger.warn('message refused', { messageId: message.id, queue: message.source, transport, senderId: sender, kind: refusal.kind, reason: refusal.reason, ...(refusal.incidentId ? { incidentId: refusal.incidentId } : {}) });
  ctx.metrics.messagesHandled.inc({ kind: refusal.kind, outcome: 'refused' });
  await ctx.audit.append({
    at: ctx.now(),
    who: `${transport}:${sender}`,
    what: refusal.what ?? 'message-refused',
    ...(refusal.incidentId ? { incidentId: refusal.incidentId } : {}),
    outcome: 'refused',
    detail: { queue: message.source, messageId: message.id, kind: refusal.kind, reason: refusal.reason, receiveCount: message.receiveCount },
  });
  return 'done';
}
