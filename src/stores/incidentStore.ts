/**
 * Incidents as the bot sees them: storm and duplicate suppression for incoming events.
 *
 * `observe` sorts each event (with its SQS message id) into one of:
 * - 'new': the first event of a dedupe key, or the first after the key's window closed. The
 *   caller starts an execution and posts a message, then records them (setExecution,
 *   attachMessage).
 * - 'repeat': the key's incident is open (the event falls before windowStart + windowMs): counted
 *   and kept with the incident, nothing else to do.
 * - 'duplicate-delivery': this SQS message id was already observed (SQS delivers at least once):
 *   not counted again, not stored again. If `incident.executionName` is still unset, the
 *   earlier delivery may have died before starting the execution: the caller may start it
 *   again; deriving the execution name from the incident id makes that idempotent.
 *
 * Windows are fixed, not sliding: an incident covers [windowStart, windowStart + windowMs),
 * where windowStart is the `at` of the event that opened it, and windowMs is the one given when
 * it opened. An event older than its key's open incident counts as a repeat of it (never opens a
 * new one). A long storm thus yields one incident per window, never one incident forever.
 *
 * Incident ids are derived, not random: `inc-` + the first 20 hex digits of
 * sha256(dedupeKey + "\n" + windowStart ISO time). The same first event always gives the same
 * id, so a replay after a crash finds the incident it made before.
 *
 * Nothing is lost: every observed event (not duplicate deliveries) is kept with its incident;
 * an event whose JSON is over 256 KiB is kept as its first 256 KiB plus its size and sha256.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The same values as the incident message's status (src/handlers/render/incidentMessage.ts). */
export const INCIDENT_STATUSES = ['running', 'awaiting-approval', 'done', 'failed'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** The report ends an incident: once done or failed, its status never changes again. */
export function isTerminalStatus(status: IncidentStatus): boolean {
  return status === 'done' || status === 'failed';
}

/**
 * An incident's status only moves forward: running and awaiting-approval alternate while the
 * playbook runs; done and failed are final (a late or replayed message cannot reopen a report).
 */
export function nextStatus(current: IncidentStatus, requested: IncidentStatus): IncidentStatus {
  return isTerminalStatus(current) ? current : requested;
}

/** Safe as a file name and in Discord custom_ids. */
export const INCIDENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const EXECUTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;
export const MAX_STORED_EVENT_BYTES = 256 * 1024;

const isoTime = z.iso.datetime({ offset: true });

export const incidentStateSchema = z.object({
  incidentId: z.string().regex(INCIDENT_ID_PATTERN),
  dedupeKey: z.string().min(1).max(1024),
  executionName: z.string().regex(EXECUTION_NAME_PATTERN).optional(),
  /** The `at` of the event that opened the incident. */
  windowStart: isoTime,
  windowMs: z.number().int().positive(),
  /** Earliest and latest `at` among its events (an out-of-order event can be before windowStart). */
  firstSeen: isoTime,
  lastSeen: isoTime,
  /** Distinct SQS messages observed for it, the first included. */
  count: z.number().int().positive(),
  firstMessageId: z.string().min(1).max(200),
  channelId: z.string().min(1).max(32).optional(),
  messageId: z.string().min(1).max(32).optional(),
  status: z.enum(INCIDENT_STATUSES),
  updatedAt: isoTime,
});

export type IncidentState = z.output<typeof incidentStateSchema>;

export const storedEventSchema = z.object({
  at: isoTime,
  /** The SQS message id it came in. */
  messageId: z.string().min(1).max(200),
  /** The raw event, when its JSON is at most 256 KiB. */
  event: z.unknown().optional(),
  /** Instead of `event` when it was larger: its first 256 KiB of JSON text, its size and hash. */
  truncated: z.object({ bytes: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/), prefix: z.string() }).optional(),
});

export type StoredEvent = z.output<typeof storedEventSchema>;

export interface ObserveInput {
  dedupeKey: string;
  /** The SQS message id (duplicate deliveries carry the same one). */
  messageId: string;
  /** When the event happened (or was sent); decides the window. Pass it explicitly. */
  at: Date;
  /** The raw event, kept with the incident. */
  event: unknown;
  /** How long an incident stays open for repeats, from its first event. */
  windowMs: number;
}

export const observeInputSchema = z.object({
  dedupeKey: z.string().min(1).max(1024),
  messageId: z.string().min(1).max(200),
  at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'a valid date'),
  event: z.unknown(),
  windowMs: z.number().int().positive(),
});

export type ObserveResult =
  | { outcome: 'new'; incident: IncidentState }
  /** `count`: the incident's count with this event. */
  | { outcome: 'repeat'; incident: IncidentState; count: number }
  | { outcome: 'duplicate-delivery'; incident: IncidentState };

export interface IncidentStore {
  /** Atomic per dedupe key: of concurrent first observations of a key, exactly one is 'new'. */
  observe(input: ObserveInput): Promise<ObserveResult>;
  /** The incident, or undefined. Throws (code CorruptState) when it cannot be read back. */
  get(incidentId: string): Promise<IncidentState | undefined>;
  /** The incident a Step Functions execution belongs to (set by setExecution). */
  findByExecution(executionName: string): Promise<IncidentState | undefined>;
  /** NotFoundError when there is no such incident (the same for the setters below). */
  attachMessage(incidentId: string, channelId: string, messageId: string): Promise<IncidentState>;
  /** Forward only (see nextStatus): a done or failed incident keeps its status. */
  setStatus(incidentId: string, status: IncidentStatus): Promise<IncidentState>;
  setExecution(incidentId: string, executionName: string): Promise<IncidentState>;
  /** Every event kept for the incident, in the order observed ([] when none). */
  readEvents(incidentId: string): Promise<StoredEvent[]>;
}

/** `inc-` + 20 hex digits of sha256(dedupeKey + "\n" + windowStart ISO time). */
export function incidentIdFor(dedupeKey: string, windowStart: Date): string {
  return `inc-${createHash('sha256').update(`${dedupeKey}\n${windowStart.toISOString()}`).digest('hex').slice(0, 20)}`;
}

/** The event as stored: whole when its JSON is at most 256 KiB, else a 256 KiB prefix with size and hash. */
export function toStoredEvent(at: Date, messageId: string, event: unknown): StoredEvent {
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch {
    json = JSON.stringify({ unserializable: true, type: typeof event });
  }
  if (json === undefined) return { at: at.toISOString(), messageId };
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= MAX_STORED_EVENT_BYTES) return { at: at.toISOString(), messageId, event: JSON.parse(json) as unknown };
  const buffer = Buffer.from(json, 'utf8');
  const prefix = buffer.subarray(0, MAX_STORED_EVENT_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
  return { at: at.toISOString(), messageId, truncated: { bytes, sha256: createHash('sha256').update(buffer).digest('hex'), prefix } };
}

/**
 * `toStoredEvent` as its NDJSON line (no newline): the same text as `JSON.stringify(toStoredEvent(…))`,
 * with an event kept whole serialized once instead of three times (a storm's repeats are stored too).
 */
export function storedEventLine(at: Date, messageId: string, event: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch {
    json = undefined;
  }
  if (json === undefined || Buffer.byteLength(json, 'utf8') > MAX_STORED_EVENT_BYTES) return JSON.stringify(toStoredEvent(at, messageId, event));
  return `{"at":${JSON.stringify(at.toISOString())},"messageId":${JSON.stringify(messageId)},"event":${json}}`;
}

/** Whether `at` falls in the incident's window (before windowStart + windowMs; earlier events count too). */
export function isWithinWindow(incident: IncidentState, at: Date): boolean {
  return at.getTime() < Date.parse(incident.windowStart) + incident.windowMs;
}
