/**
 * Why a message failed, kept beside the queue. SQS's redrive moves a message to its DLQ unchanged,
 * with nothing about why, so the bot keeps a side record of each message's last failed attempt,
 * keyed by the SQS message id (which the message keeps in the DLQ). `sentinel dlq list` joins the
 * DLQ's messages with these records.
 *
 * A record holds the message id, its queue, its kind, the receive count and the reason of the
 * last failure, and when it happened: never the body, never a task token (the reason is the
 * error's description, with secrets and long opaque strings masked, as in the log).
 *
 * Records are replaced by the next failure of the same message and deleted once the message is
 * handled. Nothing outlives the DLQ itself: records older than DEAD_LETTER_RETENTION_MS (the
 * DLQ's 14-day retention) are hidden, then deleted by the next prune.
 */
import { z } from 'zod';

/** The longest a DLQ keeps a message (SQS's maximum retention, which `sentinel provision` sets). */
export const DEAD_LETTER_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;

/** Stored reasons are cut to this many characters. */
export const DEAD_LETTER_REASON_MAX = 2000;

/** SQS message ids are UUIDs; anything that could not be a plain file or key name is refused. */
export const DEAD_LETTER_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const deadLetterRecordSchema = z
  .object({
    messageId: z.string().regex(DEAD_LETTER_ID_PATTERN),
    queue: z.enum(['intake', 'control']),
    /** The message kind as parsed (`event`, `task`, …), or `unknown` when it failed before that. */
    kind: z.string().regex(/^[a-z][a-z-]{0,39}$/),
    /** The delivery that failed (1 on the first). */
    receiveCount: z.number().int().min(0),
    reason: z.string().min(1).max(DEAD_LETTER_REASON_MAX),
    /** When the failure was recorded (ISO time). */
    at: z.iso.datetime({ offset: true }),
  })
  .strict();

export type DeadLetterRecord = z.infer<typeof deadLetterRecordSchema>;

export interface DeadLetterStore {
  /** Where the records are (a directory or an s3:// prefix), for messages. */
  readonly location: string;
  /** Records a message's last failure, replacing the one before. */
  record(record: DeadLetterRecord): Promise<void>;
  /** Deletes a message's record (it was handled in the end); nothing happens when there is none. */
  forget(messageId: string): Promise<void>;
  /** A message's record, or undefined (none, or older than the retention). */
  get(messageId: string): Promise<DeadLetterRecord | undefined>;
  /** Every record within the retention, oldest first; unreadable ones are skipped and logged. */
  list(): Promise<DeadLetterRecord[]>;
  /** Deletes the records older than the retention (by when they were last written); returns how many. */
  prune(): Promise<number>;
}

/** True when a record is older than the retention at `now`. */
export function isExpired(record: Pick<DeadLetterRecord, 'at'>, now: Date): boolean {
  return now.getTime() - Date.parse(record.at) > DEAD_LETTER_RETENTION_MS;
}

/** How often a store prunes itself while recording (at most). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** A reason as stored: secrets and opaque strings masked by `redact`, control characters flattened, cut to DEAD_LETTER_REASON_MAX. */
export function safeReason(reason: string, redact: (s: string) => string): string {
  const flat = redact(reason).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  const text = flat === '' ? '(no reason given)' : flat;
  return text.length > DEAD_LETTER_REASON_MAX ? `${text.slice(0, DEAD_LETTER_REASON_MAX - 1)}…` : text;
}
