import type { IntakeSource } from '../../handlers/ports/intake.js';
import type { DeadLetterRecord } from '../../stores/deadLetterStore.js';
import { parseMessage } from '../../handlers/messages.js';
import type { PeekedMessage } from './peekDeadLetters.js';

/** One dead-lettered message as `sentinel dlq list` shows it: never its body, never a token. */
export interface DeadLetterRow {
  queue: IntakeSource;
  messageId: string;
  /** The record's kind, else the body's (`event`, `task`, …), else `unreadable`. */
  kind: string;
  /** The incident the body names (playbook messages name one; raw events do not). */
  incidentId?: string;
  /** When SQS accepted the message (ISO time). */
  sentAt?: string;
  /** SQS's ApproximateReceiveCount before this listing. */
  receiveCount: number;
  /** The bot's record of the last failed attempt, when it made one. */
  lastError?: { reason: string; at: string; receiveCount: number };
}

function namedIncident(body: string): { kind: string; incidentId?: string } {
  const parsed = parseMessage(body);
  if (!parsed.ok) return { kind: 'unreadable' };
  const p = parsed.parsed;
  if (p.kind === 'event') return { kind: 'event' };
  if (p.kind === 'task') return { kind: p.kind, incidentId: p.message.incidentId };
  return { kind: p.kind, incidentId: p.message.incident.incidentId };
}

/** Joins a peeked message with its failure record (pure). */
export function describeDeadLetter(queue: IntakeSource, message: PeekedMessage, record: DeadLetterRecord | undefined): DeadLetterRow {
  const fromBody = namedIncident(message.body);
  return {
    queue,
    messageId: message.messageId,
    kind: record && record.kind !== 'unknown' ? record.kind : fromBody.kind,
    ...(fromBody.incidentId ? { incidentId: fromBody.incidentId } : {}),
    ...(message.sentAt ? { sentAt: message.sentAt.toISOString() } : {}),
    receiveCount: message.receiveCount,
    ...(record ? { lastError: { reason: record.reason, at: record.at, receiveCount: record.receiveCount } } : {}),
  };
}

/** The rows as text: one block per message, the last error on its own line. */
export function formatDeadLetterRows(rows: readonly DeadLetterRow[]): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    const head = [r.messageId, r.kind, r.incidentId ?? '-', `sent ${r.sentAt ?? '?'}`, `${r.receiveCount} receive${r.receiveCount === 1 ? '' : 's'}`];
    lines.push(`  ${head.join('  ')}`);
    lines.push(
      r.lastError
        ? `    last error (delivery ${r.lastError.receiveCount}, ${r.lastError.at}): ${r.lastError.reason}`
        : '    last error: none recorded (the bot stopped while handling it, or its record expired or could not be written)',
    );
  }
  return lines;
}
