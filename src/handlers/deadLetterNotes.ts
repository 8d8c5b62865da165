/**
 * What the intake tells the dead-letter record store (src/stores/deadLetterStore.ts): a
 * message left for a retry gets its last error recorded, a redelivered message that is finally
 * handled has its record deleted. Neither ever changes the message's outcome: a store that fails
 * is logged, and the message is retried or deleted as it would have been.
 */
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { IntakeMessage } from './ports/intake.js';
import type { HandlerContext } from './context.js';

export interface FailureCapture {
  /** Give this logger to the handler: it logs as the one it wraps. */
  logger: Logger;
  /** The `reason` of the last error the handler logged (through it or a child of it), if any. */
  reason(): string | undefined;
}

/**
 * A logger that remembers the reason of the last error logged through it or any of its children.
 * Handlers that catch their own failure log it (`log.error('… will retry', { reason })`) and return
 * 'retry'; this is how that reason reaches the record without changing the handlers.
 */
export function captureFailureReason(logger: Logger): FailureCapture {
  let last: string | undefined;
  const base = logger.child({});
  // winston children write through their parent's write(): everything logged below passes here.
  const capturing = Object.create(base, {
    write: {
      value(info: Record<string, unknown>) {
        if (info.level === 'error' && typeof info.reason === 'string' && info.reason !== '') last = info.reason;
        return base.write(info);
      },
    },
  }) as Logger;
  return { logger: capturing, reason: () => last };
}

/** Records the failed attempt; `reason` undefined when the handler said nothing. Never throws. */
export async function noteFailedAttempt(ctx: HandlerContext, message: IntakeMessage, kind: string, reason: string | undefined): Promise<void> {
  if (!ctx.deadLetters) return;
  try {
    await ctx.deadLetters.record({
      messageId: message.id,
      queue: message.source,
      kind,
      receiveCount: message.receiveCount,
      reason: reason ?? `the ${kind} handler asked for a retry without logging an error`,
      at: ctx.now().toISOString(),
    });
  } catch (err) {
    ctx.logger.warn('could not record why the message failed (sentinel dlq list will not show it)', { messageId: message.id, reason: describeError(err) });
  }
}

/** A redelivered message was handled: its failure record (if any) goes. First deliveries have none. Never throws. */
export async function noteHandled(ctx: HandlerContext, message: IntakeMessage): Promise<void> {
  if (!ctx.deadLetters || message.receiveCount <= 1) return;
  try {
    await ctx.deadLetters.forget(message.id);
  } catch (err) {
    ctx.logger.warn('could not delete the failure record of a handled message', { messageId: message.id, reason: describeError(err) });
  }
}
