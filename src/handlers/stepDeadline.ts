import type { TaskMessage } from './messages.js';

/**
 * When Step Functions stops waiting for a step: from the later of when the state was entered
 * (`enteredAt`) and when its message was sent (a retried attempt is sent later than the state
 * was entered, and its timeout runs from then), plus the step's timeout. Undefined when the
 * message does not say (the heartbeat still proves the token live).
 */
export function stepDeadline(msg: Pick<TaskMessage, 'enteredAt' | 'timeoutSeconds'>, sentAt: Date | undefined): Date | undefined {
  if (msg.timeoutSeconds === undefined) return undefined;
  const starts = [msg.enteredAt ? Date.parse(msg.enteredAt) : Number.NaN, sentAt?.getTime() ?? Number.NaN].filter(Number.isFinite);
  if (!starts.length) return undefined;
  return new Date(Math.max(...starts) + msg.timeoutSeconds * 1000);
}
