import { describeError } from '../errors.js';
import type { IntakeMessage } from '../bot/intake/intake.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { handleApprovalRequest } from './handleApprovalRequest.js';
import { handleEvent } from './handleEvent.js';
import { handleNotify } from './handleNotify.js';
import { handleReport } from './handleReport.js';
import { handleTask } from './handleTask.js';
import { parseMessage, type MessageKind, type ParsedMessage } from './messages.js';

type Handlers = { [K in MessageKind]: (parsed: Extract<ParsedMessage, { kind: K }>, meta: IntakeMessage, ctx: HandlerContext) => Promise<HandlerOutcome> };

/** One handler per message kind. */
export const MESSAGE_HANDLERS = {
  event: (p, meta, ctx) => handleEvent(p.event, { messageId: meta.id }, ctx),
  task: (p, _meta, ctx) => handleTask(p.message, ctx),
  'approval-request': (p, _meta, ctx) => handleApprovalRequest(p.message, ctx),
  report: (p, _meta, ctx) => handleReport(p.message, ctx),
  notify: (p, _meta, ctx) => handleNotify(p.message, ctx),
} satisfies Handlers;

/**
 * The intake's one entry point: parse, route to the kind's handler. An
 * unreadable or unknown message is logged with the reason and deleted (it
 * would fail the same way forever); an unexpected error leaves the message
 * for a retry, and the queue's redrive policy takes it to the DLQ in the end.
 */
export async function dispatchMessage(message: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ messageId: message.id });
  const parsed = parseMessage(message.body);
  if (!parsed.ok) {
    log.warn('unreadable message dropped', { reason: parsed.reason, receiveCount: message.receiveCount });
    ctx.metrics.messagesHandled.inc({ kind: 'unknown', outcome: 'refused' });
    return 'done';
  }
  const kind = parsed.parsed.kind;
  try {
    const handler = MESSAGE_HANDLERS[kind] as (p: ParsedMessage, m: IntakeMessage, c: HandlerContext) => Promise<HandlerOutcome>;
    return await handler(parsed.parsed, message, ctx);
  } catch (err) {
    log.error('message handling failed; will retry', { kind, reason: describeError(err), receiveCount: message.receiveCount });
    ctx.metrics.messagesFailed.inc({ kind });
    return 'retry';
  }
}
