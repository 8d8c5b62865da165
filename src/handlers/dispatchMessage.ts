import { createHash } from 'node:crypto';
import { describeError } from '../errors.js';
import type { IntakeMessage } from './ports/intake.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { handleApprovalRequest } from './handleApprovalRequest.js';
import { handleEvent } from './handleEvent.js';
import { handleNotify } from './handleNotify.js';
import { handleReport } from './handleReport.js';
import { handleTask } from './handleTask.js';
import { parseMessage, type MessageKind, type ParsedMessage } from './messages.js';
import { refuseKind, refuseSender } from './authenticateMessage.js';
import { refuseMessage } from './refuseMessage.js';
import { captureFailureReason, noteFailedAttempt, noteHandled } from './deadLetterNotes.js';

type Handlers = { [K in MessageKind]: (parsed: Extract<ParsedMessage, { kind: K }>, meta: IntakeMessage, ctx: HandlerContext) => Promise<HandlerOutcome> };

/** One handler per message kind. */
export const MESSAGE_HANDLERS = {
  event: (p, meta, ctx) => handleEvent(p.event, { messageId: meta.id }, ctx),
  task: (p, meta, ctx) => handleTask(p.message, meta, ctx),
  'approval-request': (p, meta, ctx) => handleApprovalRequest(p.message, meta, ctx),
  report: (p, meta, ctx) => handleReport(p.message, meta, ctx),
  notify: (p, meta, ctx) => handleNotify(p.message, meta, ctx),
} satisfies Handlers;

function claimedIncident(parsed: ParsedMessage): string | undefined {
  switch (parsed.kind) {
    case 'event':
      return undefined;
    case 'task':
      return parsed.message.incidentId;
    default:
      return parsed.message.incident.incidentId;
  }
}

/**
 * The intake's one entry point: authenticate, parse, route to the kind's handler.
 * - A control-queue message whose SenderId is not the state machines' role, a playbook message
 *   on the intake queue, and an event on the control queue are refused: logged, audited with
 *   the sender and the reason, deleted, and nothing else happens.
 * - An unreadable or unknown message is logged with the reason and deleted (it would fail the
 *   same way forever).
 * - An unexpected error leaves the message for a retry, and the queue's redrive policy takes it
 *   to the DLQ in the end. Each failed attempt's reason (the error, or what a handler that asked
 *   for the retry logged) is kept in the dead-letter record store for `sentinel dlq list`.
 */
export async function dispatchMessage(message: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  // At-least-once delivery. Copies of one playbook message (the same body from the same sender on
  // the control queue) often arrive together, in one batch: a copy waits for the one being handled,
  // then is handled on what that one left (a report already shown). And an SQS message handled here
  // to the end, delivered again (same message id: its delete was lost, or its visibility ran out
  // while it was handled), is not handled again. Copies sent as messages of their own are handled
  // (idempotently): the body cannot tell them from a step the playbook retries, which may carry the
  // same token. Events are handled as they come (each delivery is counted, and repeats of an
  // incident fold into one run of their own).
  if (message.source !== 'control') return dispatchOne(message, ctx);
  const copies = copiesByBot.get(ctx.incidents) ?? { inFlight: new Map(), handled: new Map() };
  copiesByBot.set(ctx.incidents, copies);
  const key = `${message.senderId ?? ''}\n${createHash('sha256').update(message.body ?? '').digest('hex')}`;
  const delivery = `${message.id}\n${key}`;
  const before = copies.inFlight.get(key);
  const handled = (before ? before.catch(() => undefined) : Promise.resolve()).then(async () => {
    const at = copies.handled.get(delivery);
    if (at !== undefined && Date.now() - at < HANDLED_COPY_TTL_MS) {
      ctx.logger.info('a playbook message already handled here, delivered again; dropped', { messageId: message.id, receiveCount: message.receiveCount, reason: 'this SQS message was handled to the end by this bot' });
      ctx.metrics.messagesHandled.inc({ kind: 'unknown', outcome: 'duplicate' });
      await noteHandled(ctx, message);
      return 'done' as const;
    }
    const outcome = await dispatchOne(message, ctx);
    if (outcome === 'done') rememberHandled(copies.handled, delivery);
    return outcome;
  });
  copies.inFlight.set(key, handled);
  try {
    return await handled;
  } finally {
    if (copies.inFlight.get(key) === handled) copies.inFlight.delete(key);
  }
}

/** How long, and how many, handled playbook messages are remembered to drop their redeliveries. */
const HANDLED_COPY_TTL_MS = 3_600_000;
const HANDLED_COPY_MAX = 10_000;

interface Copies {
  /** Control messages being handled, by sender and body digest. */
  inFlight: Map<string, Promise<HandlerOutcome>>;
  /** Control messages handled to the end, by message id, sender and body digest, with when (oldest first). */
  handled: Map<string, number>;
}

/** Per bot (keyed by its incident store). */
const copiesByBot = new WeakMap<object, Copies>();

function rememberHandled(handled: Map<string, number>, key: string): void {
  handled.delete(key);
  handled.set(key, Date.now());
  for (const [k, at] of handled) {
    if (handled.size <= HANDLED_COPY_MAX && Date.now() - at < HANDLED_COPY_TTL_MS) break;
    handled.delete(k);
  }
}

async function dispatchOne(message: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  // A message left for a retry gets its last error recorded (`sentinel dlq list` shows it once the
  // message is dead-lettered); a redelivered one that is finally handled has its record deleted.
  const attempt: { kind: MessageKind | 'unknown' } = { kind: 'unknown' };
  const capture = captureFailureReason(ctx.logger);
  const outcome = await routeMessage(message, { ...ctx, logger: capture.logger }, attempt);
  if (outcome === 'retry') await noteFailedAttempt(ctx, message, attempt.kind, capture.reason());
  else await noteHandled(ctx, message);
  return outcome;
}

async function routeMessage(message: IntakeMessage, ctx: HandlerContext, attempt: { kind: MessageKind | 'unknown' }): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ messageId: message.id });
  let kind: MessageKind | 'unknown' = 'unknown';
  try {
    // The sender first: a control message from anyone but the state machines is refused unread.
    const badSender = refuseSender(message, ctx.bot.stateMachineRoleId);
    if (badSender) return await refuseMessage(ctx, message, { kind, reason: badSender });
    const parsed = parseMessage(message.body);
    if (!parsed.ok) {
      log.warn('unreadable message dropped', { reason: parsed.reason, receiveCount: message.receiveCount, queue: message.source });
      ctx.metrics.messagesHandled.inc({ kind, outcome: 'refused' });
      return 'done';
    }
    kind = parsed.parsed.kind;
    attempt.kind = kind;
    const wrongQueue = refuseKind(kind, message);
    if (wrongQueue) {
      const incidentId = claimedIncident(parsed.parsed);
      return await refuseMessage(ctx, message, { kind, reason: wrongQueue, ...(incidentId ? { incidentId } : {}) });
    }
    const handler = MESSAGE_HANDLERS[kind] as (p: ParsedMessage, m: IntakeMessage, c: HandlerContext) => Promise<HandlerOutcome>;
    return await handler(parsed.parsed, message, ctx);
  } catch (err) {
    log.error('message handling failed; will retry', { kind, reason: describeError(err), receiveCount: message.receiveCount });
    ctx.metrics.messagesFailed.inc({ kind });
    return 'retry';
  }
}
