/**
 * The outbox's unit: one Discord message sentinel owns (a "slot"), as it should look, where it
 * goes, and what Discord shows of it so far. Slots are recorded durably (outboxFiles.ts) before a
 * handler returns, and the sender (discordOutbox.ts) brings Discord up to date with them.
 *
 * An incident's message is one slot whose view only moves forward: the incident (running, awaiting
 * a decision) < the alert < the report. A view of an earlier kind never replaces a later one, so a
 * report, once recorded, is what the message shows for good; repeats only change the counter
 * rendered into whatever the view is.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Priority lanes, first served first: approvals and their updates, reports, new incidents, then counters, statuses and digests. */
export const LANES = ['approval', 'report', 'incident', 'update'] as const;
export type Lane = (typeof LANES)[number];

const ID = /^[A-Za-z0-9_-]{1,160}$/;
/** `<kind>.<id>`: safe as a file name. */
export const SLOT_KEY = /^(incident|approval|digest|part|post)\.[A-Za-z0-9_-]{1,160}$/;

export const slotKeySchema = z.string().regex(SLOT_KEY, 'an outbox key');
const isoTime = z.iso.datetime({ offset: true });
const snowflake = z.string().regex(/^\d{1,32}$/, 'a Discord id');

/** A rendered message as stored: what discord.js sends (mentions are always turned off when sent). */
export const storedMessageSchema = z.object({
  content: z.string().max(2000).optional(),
  embeds: z.array(z.record(z.string(), z.unknown())).max(10),
  components: z.array(z.record(z.string(), z.unknown())).max(5),
});
export type StoredMessage = z.output<typeof storedMessageSchema>;

const triageSchema = z.record(z.string(), z.unknown());

export const incidentViewSchema = z.object({
  kind: z.literal('incident'),
  incidentId: z.string().min(1).max(128),
  triage: triageSchema,
  observe: z.boolean(),
  executionName: z.string().max(80).optional(),
});

export const alertViewSchema = z.object({
  kind: z.literal('alert'),
  incidentId: z.string().min(1).max(128),
  triage: triageSchema,
});

/** What renderReport needs of an incident record (not the raw event). */
export const reportViewSchema = z.object({
  kind: z.literal('report'),
  incidentId: z.string().min(1).max(128),
  failed: z.boolean(),
  incident: z.looseObject({
    route: z.string(),
    triage: triageSchema,
    actions: z.array(z.looseObject({ action: z.string(), status: z.string(), summary: z.string() })),
    manifest: z.array(z.looseObject({ kind: z.string(), location: z.string() })),
    decisions: z.array(z.looseObject({ decision: z.string(), by: z.string(), at: z.string() })),
  }),
  record: z.object({ location: z.string() }).optional(),
});

export const SHOWN_DECISIONS = ['allow', 'block', 'expired', 'failed', 'pending-second'] as const;

export const approvalViewSchema = z.object({
  kind: z.literal('approval'),
  approvalId: z.string().regex(ID),
  incidentId: z.string().max(128),
  action: z.string().max(64),
  payload: storedMessageSchema,
  /** Shown on the message once known (expired, delivered late, not applied). */
  outcome: z.object({ decision: z.enum(SHOWN_DECISIONS), by: z.array(z.string().max(200)).max(10), at: isoTime, note: z.string().max(1000).optional() }).optional(),
});

export const digestViewSchema = z.object({
  kind: z.literal('digest'),
  digestId: z.string().regex(ID),
  /** The group: one rule on one class of target. */
  rule: z.string().max(300),
  targetClass: z.string().max(40),
  openedAt: isoTime,
  lastJoinAt: isoTime,
  /** The incident slots folded into it, in the order they joined. */
  members: z.array(slotKeySchema),
});

/** One page of a digest's full list, in the digest's thread. */
export const partViewSchema = z.object({ kind: z.literal('part'), digest: slotKeySchema, index: z.number().int().nonnegative() });

export const postViewSchema = z.object({ kind: z.literal('post'), payload: storedMessageSchema });

export const slotViewSchema = z.discriminatedUnion('kind', [incidentViewSchema, alertViewSchema, reportViewSchema, approvalViewSchema, digestViewSchema, partViewSchema, postViewSchema]);
export type SlotView = z.output<typeof slotViewSchema>;
export type IncidentMessageView = Extract<SlotView, { kind: 'incident' | 'alert' | 'report' }>;
export type ViewOf<K extends SlotView['kind']> = Extract<SlotView, { kind: K }>;

export const placeSchema = z.union([
  z.object({ channelId: snowflake }),
  /** In the thread of another slot's message; `whenFolded`: what to do if that slot went into a digest. */
  z.object({ threadOf: slotKeySchema, threadName: z.string().min(1).max(100), whenFolded: z.enum(['digest-thread', 'drop']) }),
]);
export type Place = z.output<typeof placeSchema>;

export const slotSchema = z.object({
  key: slotKeySchema,
  place: placeSchema,
  /** The lane of a one-off post (the others follow from their view). */
  lane: z.enum(LANES).optional(),
  view: slotViewSchema,
  /** Bumped on every change of the view. */
  version: z.number().int().positive(),
  /** Sent with the create (enforce_nonce): a create repeated after a crash returns the first one. */
  nonce: z.string().min(1).max(25),
  message: z.object({ channelId: snowflake, messageId: snowflake }).optional(),
  /** The thread started on this message, once there is one. */
  threadId: snowflake.optional(),
  /** What Discord shows: the version, its view's rank, the repeat count rendered into it. */
  shown: z.object({ version: z.number().int().positive(), rank: z.number().int().nonnegative(), count: z.number().int().nonnegative().optional(), at: isoTime }).optional(),
  /** The after-post bookkeeping (message id on the incident or approval, the audit entry) is done. */
  hooked: z.boolean().optional(),
  /** Folded into this digest (storm mode): never posted on its own. */
  digest: slotKeySchema.optional(),
  /** Discord refused it for good (a 4xx other than 429, three times): kept, not sent again. */
  failed: z.object({ reason: z.string().max(2000), at: isoTime }).optional(),
  /** Not to be shown after all (a report's overflow lines once its incident went into a digest). */
  dropped: z.object({ reason: z.string().max(500), at: isoTime }).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Slot = z.output<typeof slotSchema>;

/** How far along an incident message's view is: a view ranked lower never replaces a higher one. */
export function viewRank(view: SlotView): number {
  switch (view.kind) {
    case 'incident':
      return 1;
    case 'alert':
      return 2;
    case 'report':
      return 3;
    default:
      return 1;
  }
}

export function isIncidentView(view: SlotView): view is IncidentMessageView {
  return view.kind === 'incident' || view.kind === 'alert' || view.kind === 'report';
}

/** Incident ids sentinel makes fit as they are; any other (a playbook message may name one) is hashed. */
export const incidentSlotKey = (incidentId: string): string => `incident.${ID.test(incidentId) && incidentId.length <= 128 ? incidentId : `h-${shortId(incidentId)}`}`;
export const approvalSlotKey = (approvalId: string): string => `approval.${approvalId}`;
export const postSlotKey = (id: string): string => `post.${id}`;

/** A short id (base64url of a sha256) for slot keys built from longer or free-form names. */
export function shortId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 22);
}

/** The nonce for a slot's create: derived from its key and creation, at most 25 characters. */
export function nonceFor(key: string, createdAt: string): string {
  return createHash('sha256').update(`${key}\n${createdAt}`).digest('hex').slice(0, 25);
}
