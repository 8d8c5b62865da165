/**
 * The Discord outbox: handlers record what a message should show (durably, under
 * `<data dir>/outbox`) and return; one sender brings Discord up to date, so no SQS handler ever
 * waits on Discord, and nothing recorded is lost when Discord fails or the bot dies.
 *
 * - One ordered writer per message. Each message is one slot; its writes go out one at a time and
 *   each renders the slot as it is when sent (so bursts coalesce to the latest state). An
 *   incident's view only moves forward (incident < alert < report): a report is never replaced by
 *   an earlier kind; later repeats re-render the counter inside it.
 * - One budget per channel (`budget` writes in any 5 s, below Discord's 5), shared by every
 *   message in it and served in priority lanes: approvals and their updates, reports, new
 *   incidents, then counters, statuses and digests. Within a lane the oldest waiting write goes
 *   first and a message served goes to the back, so the budget is spread across open messages.
 *   The lanes below approvals stop one write short of the budget (`approvalReserve`), so an
 *   approval recorded at any moment has a write free for it, not a wait for the window to move.
 *   Counter and status edits of one message are also at least `editIntervalMs` apart.
 * - Storm mode. When more than `digestThreshold` new incident messages wait for one channel, they
 *   (and the following incidents of the same rule and target class, while they keep coming) are
 *   folded into a digest message per rule and target class, with its full list in its thread.
 *   Every incident is still recorded and its playbook still runs; approvals still post on their own.
 * - Failures. Discord answering 5xx or 429, or not at all: the channel backs off (1 s doubling to
 *   30 s) and everything stays recorded until it is sent. A message deleted by someone is posted
 *   again. Any other refusal, three times: the slot is kept as failed, logged, and not sent again.
 * - At most once per message. A first post carries a nonce with enforce_nonce, so a post repeated
 *   after a crash (made, but not recorded as made) returns the first message instead of a second.
 */
import { describeError, DiscordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { discordFailure, type DiscordPort, type PostedMessage } from '../discordPort.js';
import type { ApprovalOutcome, DiscordOutbox, PostPlace, ShowIncidentOptions } from '../../handlers/ports/outbox.js';
import type { RenderedMessage } from '../../handlers/render/payload.js';
import type { ApprovalStore } from '../../stores/approvalStore.js';
import type { AuditLog } from '../../stores/auditLog.js';
import type { IncidentStore } from '../../stores/incidentStore.js';
import { afterPost } from './afterPost.js';
import { ChannelBudget } from './channelBudget.js';
import { OutboxFiles } from './outboxFiles.js';
import {
  LANES,
  approvalSlotKey,
  incidentSlotKey,
  isIncidentView,
  nonceFor,
  postSlotKey,
  shortId,
  viewRank,
  type IncidentMessageView,
  type Lane,
  type Place,
  type Slot,
  type SlotView,
  type ViewOf,
} from '../../handlers/ports/outboxSlot.js';
import { DIGEST_PAGE_SIZE, digestGroup, digestMember, type DigestMember } from './planDigest.js';
import { renderSlot, showsCount, toStored, type SlotFacts } from './renderSlot.js';

export interface DiscordOutboxOptions {
  /** Where slots are kept (`<data dir>/outbox`). */
  dir: string;
  /** The real Discord port: the outbox is the only writer through it. */
  port: DiscordPort;
  /** The incident channel. */
  channelId: string;
  incidents: IncidentStore;
  approvals: ApprovalStore;
  audit: AuditLog;
  logger: Logger;
  /** Writes per channel in any `windowMs` (default window 5 s). */
  budget: number;
  /** Writes of the budget only the approval lane may use (default 1; none when the budget is 1). */
  approvalReserve?: number;
  windowMs?: number;
  /** Least time between counter/status edits of one message. */
  editIntervalMs: number;
  /** Unposted new incident messages in a channel beyond which new incidents go into digests. */
  digestThreshold: number;
  /** The longest a digest takes new members (the storm window). */
  digestWindowMs: number;
  /** A digest stops taking members when none joined for this long (default 60 s). */
  digestQuietMs?: number;
  /** Settled slots are forgotten after this long (default the larger of an hour and the digest window). */
  retentionMs?: number;
  /** fsync slot files (default true). */
  fsync?: boolean;
  now?: () => number;
}

// The outbox's interface is the handlers' port; this module implements it.
export type { ApprovalOutcome, DiscordOutbox, PostPlace, ShowIncidentOptions } from '../../handlers/ports/outbox.js';

interface Direct {
  channelId: string;
  lane: Lane;
  seq: number;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Target =
  | { op: 'post' | 'edit'; channelId: string }
  | { op: 'thread'; channelId: string; parent: Slot; threadName: string }
  | { op: 'hook' }
  | { op: 'none' }
  | { op: 'wait' }
  | { op: 'drop'; reason: string };

type SlotTarget = Exclude<Target, { op: 'none' | 'wait' | 'drop' }>;
type Job = { kind: 'slot'; slot: Slot; target: SlotTarget } | { kind: 'direct'; direct: Direct };

/** A call to Discord failed: its cause says whether Discord is down (back the channel off) or refused it. */
class DiscordCallError extends Error {}
/** The message cannot be rendered (a bug or bad stored data): retried, then kept as failed; Discord is not backed off. */
class RenderError extends Error {}

/** Runs a Discord call, marking its failure as Discord's (as opposed to the outbox's own work around it). */
async function discordCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new DiscordCallError(describeError(err), { cause: err });
  }
}

const LANE_ORDER: Readonly<Record<Lane, number>> = Object.fromEntries(LANES.map((l, i) => [l, i])) as Record<Lane, number>;
const MAX_BACKOFF_MS = 30_000;
const PRUNE_EVERY_MS = 10 * 60_000;
const FAILED_RETENTION_MS = 7 * 24 * 3600_000;

export function createDiscordOutbox(options: DiscordOutboxOptions): DiscordOutbox {
  return new Outbox(options);
}

class Outbox implements DiscordOutbox {
  readonly #o: Required<Pick<DiscordOutboxOptions, 'windowMs' | 'digestQuietMs' | 'retentionMs' | 'approvalReserve'>> & DiscordOutboxOptions;
  readonly #files: OutboxFiles;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #slots = new Map<string, Slot>();
  /** Slots that want a write, with the order they asked in. */
  readonly #queue = new Map<string, number>();
  #direct: Direct[] = [];
  #seq = 0;
  /** Changes not carried by a slot's version (a repeat count, a digest member's state). */
  readonly #touches = new Map<string, number>();
  readonly #shownTouches = new Map<string, number>();
  readonly #budget: ChannelBudget;
  readonly #channelRetry = new Map<string, { at: number; backoff: number }>();
  readonly #slotRetry = new Map<string, { at: number; attempts: number }>();
  /** Open digests by group (channel, rule, target class). */
  readonly #openDigests = new Map<string, string>();
  readonly #writes = new Set<Promise<unknown>>();
  /** The slot being written now (never folded into a digest meanwhile). */
  #inFlight: string | undefined;
  /** Slots whose first post was sent at least once: it may have reached Discord (a timeout), so they are never folded into a digest. */
  readonly #postTried = new Set<string>();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #started = false;
  #stopping = false;
  #drainUntil = Number.POSITIVE_INFINITY;
  #pruner: NodeJS.Timeout | undefined;
  readonly port: DiscordPort;

  constructor(options: DiscordOutboxOptions) {
    this.#o = {
      windowMs: 5000,
      approvalReserve: 1,
      digestQuietMs: 60_000,
      retentionMs: Math.max(3600_000, options.digestWindowMs) + 600_000,
      ...options,
    };
    this.#files = new OutboxFiles({ dir: options.dir, ...(options.fsync !== undefined ? { fsync: options.fsync } : {}) });
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#budget = new ChannelBudget(options.budget, this.#o.windowMs, this.#o.approvalReserve);
    const raw = options.port;
    this.port = {
      post: (channelId, payload, opts) => this.#submit(channelId, () => raw.post(channelId, payload, opts)),
      edit: (channelId, messageId, payload) => this.#submit(channelId, () => raw.edit(channelId, messageId, payload)),
      thread: (channelId, messageId, name) => this.#submit(channelId, () => raw.thread(channelId, messageId, name)),
      fetchEmbeds: (channelId, messageId) => raw.fetchEmbeds(channelId, messageId),
      isReady: () => raw.isReady(),
    };
  }

  // ---- recording (handlers) ------------------------------------------------------------------

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  async showIncident(incidentId: string, view: IncidentMessageView, options: ShowIncidentOptions = {}): Promise<'recorded' | 'kept' | 'unchanged'> {
    const key = incidentSlotKey(incidentId);
    const current = this.#slots.get(key);
    if (!current) {
      const slot = this.#newSlot(key, { channelId: this.#o.channelId }, view, options.existing);
      this.#slots.set(key, slot);
      await this.#persist(slot);
      if (slot.message) this.#enqueue(key);
      else await this.#placeNewIncident(slot);
      return 'recorded';
    }
    if (options.createOnly) return 'kept';
    if (viewRank(view) < viewRank(current.view)) {
      this.#log.debug('incident message keeps its later view', { incidentId, shows: current.view.kind, refused: view.kind });
      return 'kept';
    }
    if (JSON.stringify(view) === JSON.stringify(current.view)) return 'unchanged';
    current.view = view;
    current.version += 1;
    await this.#persist(current);
    if (current.digest) this.#memberChanged(current);
    else this.#enqueue(key);
    return 'recorded';
  }

  touchIncident(incidentId: string): void {
    const key = incidentSlotKey(incidentId);
    const slot = this.#slots.get(key);
    if (!slot || slot.digest || slot.failed || !showsCount(slot.view)) return;
    this.#touch(key);
  }

  async requestApproval(input: { approvalId: string; incidentId: string; action: string; payload: RenderedMessage }): Promise<'recorded' | 'exists'> {
    const key = approvalSlotKey(input.approvalId);
    if (this.#slots.has(key)) return 'exists';
    const view: ViewOf<'approval'> = { kind: 'approval', approvalId: input.approvalId, incidentId: input.incidentId, action: input.action, payload: toStored(input.payload) };
    const slot = this.#newSlot(key, { channelId: this.#o.channelId }, view);
    this.#slots.set(key, slot);
    await this.#persist(slot);
    this.#enqueue(key);
    return 'recorded';
  }

  async updateApproval(approvalId: string, payload: RenderedMessage): Promise<'recorded' | 'decided' | 'missing'> {
    const slot = this.#slots.get(approvalSlotKey(approvalId));
    if (!slot || slot.view.kind !== 'approval') return 'missing';
    // An outcome (a vote, a decision, expiry) is never replaced by the question it answered.
    if (slot.view.outcome) return 'decided';
    slot.view = { ...slot.view, payload: toStored(payload) };
    slot.version += 1;
    await this.#persist(slot);
    this.#enqueue(slot.key);
    return 'recorded';
  }

  async showApprovalOutcome(approvalId: string, outcome: ApprovalOutcome, options: { shown?: boolean } = {}): Promise<boolean> {
    const slot = this.#slots.get(approvalSlotKey(approvalId));
    if (!slot || slot.view.kind !== 'approval') return false;
    const next = { decision: outcome.decision, by: [...outcome.by].slice(0, 10), at: outcome.at.toISOString(), ...(outcome.note ? { note: outcome.note.slice(0, 1000) } : {}) };
    // Shown by the caller, and nothing of the outbox's own unsent or on its way: recorded as shown.
    const shownAlready = options.shown === true && this.#upToDate(slot) && this.#inFlight !== slot.key;
    slot.view = { ...slot.view, outcome: next };
    slot.version += 1;
    if (shownAlready && slot.shown) slot.shown = { ...slot.shown, version: slot.version, at: new Date(this.#now()).toISOString() };
    await this.#persist(slot);
    if (!shownAlready) this.#enqueue(slot.key);
    return true;
  }

  async post(id: string, payload: RenderedMessage, place: PostPlace, lane: Lane): Promise<'recorded' | 'exists'> {
    const key = postSlotKey(id);
    if (this.#slots.has(key)) return 'exists';
    const slot = this.#newSlot(key, place, { kind: 'post', payload: toStored(payload) });
    slot.lane = lane;
    this.#slots.set(key, slot);
    await this.#persist(slot);
    this.#enqueue(key);
    return 'recorded';
  }

  backlog(): Record<Lane, number> {
    const out = Object.fromEntries(LANES.map((l) => [l, 0])) as Record<Lane, number>;
    for (const key of this.#queue.keys()) {
      const slot = this.#slots.get(key);
      if (slot) out[this.#laneOf(slot)] += 1;
    }
    for (const d of this.#direct) out[d.lane] += 1;
    return out;
  }

  // ---- life cycle -------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const slot of await this.#files.loadAll(this.#log)) this.#slots.set(slot.key, slot);
    await this.#reconcile();
    await this.#prune();
    this.#pruner = setInterval(() => void this.#prune().catch((err: unknown) => this.#log.warn('outbox pruning failed', { reason: describeError(err) })), PRUNE_EVERY_MS);
    this.#pruner.unref();
    const waiting = this.#queue.size;
    if (waiting) this.#log.info('outbox: sending what was recorded before the restart', { waiting, ...this.backlog() });
    this.#loop = this.#run();
  }

  async stop(drainMs = 1000): Promise<void> {
    if (!this.#started || this.#stopping) return;
    this.#stopping = true;
    this.#drainUntil = this.#now() + drainMs;
    if (this.#pruner) clearInterval(this.#pruner);
    this.#wakeUp();
    // A write stuck inside discord.js (a long 429 wait) is not waited out past the drain time.
    await Promise.race([this.#loop, new Promise((resolve) => setTimeout(resolve, drainMs + 500).unref())]);
    for (const d of this.#direct) d.reject(new DiscordError('sentinel is stopping: the message was not sent'));
    this.#direct = [];
    await Promise.allSettled([...this.#writes]);
    if (this.#queue.size) this.#log.info('outbox: stopped with messages still to send; they are sent after the restart', { waiting: this.#queue.size });
  }

  // ---- slots ------------------------------------------------------------------------------------

  #newSlot(key: string, place: Place, view: SlotView, existing?: PostedMessage): Slot {
    const at = new Date(this.#now()).toISOString();
    return {
      key,
      place,
      view,
      version: 1,
      nonce: nonceFor(key, at),
      ...(existing ? { message: { channelId: existing.channelId, messageId: existing.messageId }, hooked: true } : { hooked: false }),
      createdAt: at,
      updatedAt: at,
    };
  }

  async #persist(slot: Slot): Promise<void> {
    slot.updatedAt = new Date(this.#now()).toISOString();
    const write = this.#files.write(slot.key, () => this.#slots.get(slot.key) ?? slot);
    this.#writes.add(write);
    try {
      await write;
    } finally {
      this.#writes.delete(write);
    }
  }

  #enqueue(key: string): void {
    if (!this.#queue.has(key)) this.#queue.set(key, ++this.#seq);
    this.#wakeUp();
  }

  #requeue(key: string): void {
    this.#queue.delete(key);
    this.#queue.set(key, ++this.#seq);
  }

  #touch(key: string): void {
    this.#touches.set(key, (this.#touches.get(key) ?? 0) + 1);
    this.#enqueue(key);
  }

  #channelOf(slot: Slot): string | undefined {
    return slot.message?.channelId ?? ('channelId' in slot.place ? slot.place.channelId : undefined);
  }

  #laneOf(slot: Slot): Lane {
    const view = slot.view;
    switch (view.kind) {
      case 'approval':
        // A question not posted yet goes before everything; a change to one already posted (its
        // late plan, an outcome shown later) waits behind new questions, ahead of the rest.
        return slot.message ? 'report' : 'approval';
      case 'post':
        return slot.lane ?? 'report';
      case 'digest':
        return slot.message ? 'update' : 'incident';
      case 'part':
        return 'update';
      default: {
        if (!slot.message) return view.kind === 'report' ? 'report' : 'incident';
        return (slot.shown?.rank ?? 0) < viewRank(view) ? 'report' : 'update';
      }
    }
  }

  /** Whether Discord shows the slot as it should (nothing to write). */
  #upToDate(slot: Slot): boolean {
    return Boolean(slot.message && slot.shown && slot.shown.version >= slot.version && (this.#touches.get(slot.key) ?? 0) === (this.#shownTouches.get(slot.key) ?? 0));
  }

  // ---- storm mode -------------------------------------------------------------------------------

  #groupKey(slot: Slot): string | undefined {
    if (!isIncidentView(slot.view)) return undefined;
    const g = digestGroup(slot.view);
    return `${this.#channelOf(slot) ?? ''}\n${g.rule}\n${g.targetClass}`;
  }

  #openDigest(group: string, now: number): Slot | undefined {
    const key = this.#openDigests.get(group);
    const digest = key ? this.#slots.get(key) : undefined;
    if (!digest || digest.view.kind !== 'digest') return undefined;
    const open = Date.parse(digest.view.openedAt) + this.#o.digestWindowMs > now && Date.parse(digest.view.lastJoinAt) + this.#o.digestQuietMs > now;
    if (!open) this.#openDigests.delete(group);
    return open ? digest : undefined;
  }

  /** A new, unposted incident message: it waits in its lane, or (storm) goes into a digest. */
  async #placeNewIncident(slot: Slot): Promise<void> {
    // Folded already: another incident's placing saw it waiting while its record was written.
    if (slot.digest) return;
    const group = this.#groupKey(slot);
    if (group && this.#openDigest(group, this.#now())) {
      await this.#fold(slot, group);
      return;
    }
    const channel = this.#channelOf(slot);
    const waiting = [...this.#slots.values()].filter(
      (s) => isIncidentView(s.view) && !s.message && !s.digest && !s.failed && s.key !== this.#inFlight && !this.#postTried.has(s.key) && this.#channelOf(s) === channel,
    );
    if (waiting.length <= this.#o.digestThreshold) {
      this.#enqueue(slot.key);
      return;
    }
    this.#log.info('storm mode: new incidents arrive faster than the channel can show them; grouping them into digests', { channelId: channel, waiting: waiting.length });
    for (const s of waiting) {
      const g = this.#groupKey(s);
      // Checked again at its turn: while an earlier fold was written, the sender may have taken
      // this one (posting it now, or posted): shown on its own, it is not also put in a digest.
      // Nor one whose post was sent and failed: it may be in the channel already (a timeout), and its
      // retry carries the same nonce, so Discord does not post it twice; folded, it would show twice.
      if (g && !s.digest && !s.message && !s.failed && s.key !== this.#inFlight && !this.#postTried.has(s.key)) await this.#fold(s, g);
    }
  }

  async #fold(slot: Slot, group: string): Promise<void> {
    if (slot.digest) return; // a member once
    const now = this.#now();
    const at = new Date(now).toISOString();
    let digest = this.#openDigest(group, now);
    if (!digest) {
      const g = digestGroup(slot.view as IncidentMessageView);
      const digestId = shortId(group, at, String(++this.#seq));
      const view: ViewOf<'digest'> = { kind: 'digest', digestId, rule: g.rule.slice(0, 300), targetClass: g.targetClass, openedAt: at, lastJoinAt: at, members: [] };
      digest = this.#newSlot(`digest.${digestId}`, { channelId: this.#channelOf(slot) ?? this.#o.channelId }, view);
      this.#slots.set(digest.key, digest);
      this.#openDigests.set(group, digest.key);
      this.#log.info('storm digest opened', { digest: digestId, rule: g.rule, targetClass: g.targetClass });
    }
    const view = digest.view as ViewOf<'digest'>;
    // Decided before anything is awaited, so a storm seen by two handlers at once folds each incident once.
    view.members.push(slot.key);
    view.lastJoinAt = at;
    digest.version += 1;
    slot.digest = digest.key;
    this.#queue.delete(slot.key);
    // The digest's record first: a crash before the member's own is repaired on restart (#reconcile).
    await this.#persist(digest);
    await this.#persist(slot);
    this.#enqueue(digest.key);
    await this.#ensurePages(digest);
    this.#touch(this.#pageKey(view, view.members.length - 1));
    if (isIncidentView(slot.view)) this.#log.info('incident folded into a storm digest', { incidentId: slot.view.incidentId, digest: view.digestId });
  }

  #pageKey(view: ViewOf<'digest'>, memberIndex: number): string {
    return `part.${view.digestId}-${Math.floor(memberIndex / DIGEST_PAGE_SIZE)}`;
  }

  async #ensurePages(digest: Slot): Promise<void> {
    const view = digest.view as ViewOf<'digest'>;
    const pages = Math.ceil(view.members.length / DIGEST_PAGE_SIZE);
    for (let index = 0; index < pages; index += 1) {
      const key = `part.${view.digestId}-${index}`;
      if (this.#slots.has(key)) continue;
      const threadName = `storm ${view.rule}`.slice(0, 100);
      const page = this.#newSlot(key, { threadOf: digest.key, threadName, whenFolded: 'drop' }, { kind: 'part', digest: digest.key, index });
      this.#slots.set(key, page);
      await this.#persist(page);
      this.#enqueue(key);
    }
  }

  /** A folded incident's view changed (its report came): its digest and its page show it. */
  #memberChanged(slot: Slot): void {
    const digest = slot.digest ? this.#slots.get(slot.digest) : undefined;
    if (!digest || digest.view.kind !== 'digest') return;
    this.#touch(digest.key);
    const index = digest.view.members.indexOf(slot.key);
    if (index >= 0) this.#touch(this.#pageKey(digest.view, index));
  }

  // ---- after a restart -------------------------------------------------------------------------

  async #reconcile(): Promise<void> {
    const now = this.#now();
    for (const slot of this.#slots.values()) {
      if (slot.view.kind !== 'digest') continue;
      // A member recorded in the digest whose own record missed it (a crash between the two writes).
      for (const member of slot.view.members) {
        const m = this.#slots.get(member);
        if (m && !m.digest && !m.message) {
          m.digest = slot.key;
          await this.#persist(m);
        }
      }
      const group = `${this.#channelOf(slot) ?? ''}\n${slot.view.rule}\n${slot.view.targetClass}`;
      const known = this.#openDigests.get(group);
      const knownAt = known ? Date.parse((this.#slots.get(known)?.view as ViewOf<'digest'> | undefined)?.openedAt ?? '') : Number.NEGATIVE_INFINITY;
      if (Date.parse(slot.view.openedAt) > knownAt) this.#openDigests.set(group, slot.key);
      // Members that changed while the bot was down: show the digest and its pages again.
      const shownAt = slot.shown ? Date.parse(slot.shown.at) : 0;
      if (slot.view.members.some((k) => Date.parse(this.#slots.get(k)?.updatedAt ?? '') > shownAt)) {
        this.#touch(slot.key);
        for (let i = 0; i < slot.view.members.length; i += DIGEST_PAGE_SIZE) this.#touch(this.#pageKey(slot.view, i));
      }
    }
    for (const slot of this.#slots.values()) {
      if (slot.failed || slot.dropped || slot.digest) continue;
      if (!slot.message || !slot.hooked || !slot.shown || slot.shown.version < slot.version) this.#enqueue(slot.key);
      else if (showsCount(slot.view) && isIncidentView(slot.view) && Date.parse(slot.updatedAt) + this.#o.retentionMs > now) {
        // Repeats counted while the bot was down (or after the last edit before it stopped).
        const incident = await this.#o.incidents.get(slot.view.incidentId).catch(() => undefined);
        if (incident && incident.count !== slot.shown.count) this.#touch(slot.key);
      }
    }
  }

  async #prune(): Promise<void> {
    const now = this.#now();
    const settled = (s: Slot) => !this.#queue.has(s.key) && (Boolean(s.failed || s.dropped || s.digest) || this.#upToDate(s)) && s.hooked !== false;
    const old = (s: Slot) => Date.parse(s.updatedAt) + (s.failed ? FAILED_RETENTION_MS : this.#o.retentionMs) < now;
    const gone: Slot[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.digest || slot.view.kind === 'part') continue; // they go with their digest
      if (!settled(slot) || !old(slot)) continue;
      const dependents = [...this.#slots.values()].filter((s) => 'threadOf' in s.place && s.place.threadOf === slot.key);
      if (slot.view.kind === 'digest') {
        const members = slot.view.members.map((k) => this.#slots.get(k)).filter((m): m is Slot => m !== undefined);
        if (!members.every((m) => old(m)) || !dependents.every(settled)) continue;
        gone.push(slot, ...members, ...dependents);
      } else if (dependents.every((d) => settled(d) && old(d))) {
        gone.push(slot, ...dependents);
      }
    }
    for (const slot of new Set(gone)) {
      this.#slots.delete(slot.key);
      this.#touches.delete(slot.key);
      this.#shownTouches.delete(slot.key);
      await this.#files.remove(slot.key);
    }
    for (const [group, key] of this.#openDigests) if (!this.#slots.has(key)) this.#openDigests.delete(group);
  }

  // ---- the sender -------------------------------------------------------------------------------

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #submit<T>(channelId: string, run: () => Promise<T>): Promise<T> {
    if (this.#stopping) return Promise.reject(new DiscordError('sentinel is stopping: the message was not sent'));
    return new Promise<T>((resolve, reject) => {
      this.#direct.push({ channelId, lane: 'approval', seq: ++this.#seq, run, resolve: resolve as (v: unknown) => void, reject });
      this.#wakeUp();
    });
  }

  async #run(): Promise<void> {
    for (;;) {
      const now = this.#now();
      if (this.#stopping && now >= this.#drainUntil) return;
      const picked = this.#pick(now);
      if ('job' in picked) {
        await this.#execute(picked.job);
        continue;
      }
      if (this.#stopping) return; // nothing more can go out now: what is left stays recorded
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(picked.until) ? setTimeout(resolve, Math.max(1, picked.until - now)) : undefined;
        this.#wake = () => {
          if (timer) clearTimeout(timer);
          setImmediate(resolve);
        };
      });
      this.#wake = undefined;
    }
  }

  /**
   * When the channel can take a write of this lane (its budget and its back-off after failures):
   * only the approval lane may use the budget's reserve.
   */
  #gate(channelId: string, now: number, lane: Lane): number {
    return Math.max(this.#budget.nextAt(channelId, now, lane === 'approval'), this.#channelRetry.get(channelId)?.at ?? 0);
  }

  #target(slot: Slot): Target {
    if (slot.failed || slot.dropped) return { op: 'none' };
    if (!slot.message) {
      const place = slot.place;
      if ('channelId' in place) return { op: 'post', channelId: place.channelId };
      let parent = this.#slots.get(place.threadOf);
      if (parent?.digest) {
        if (place.whenFolded === 'drop') return { op: 'drop', reason: 'the message it follows went into a storm digest' };
        parent = this.#slots.get(parent.digest);
      }
      if (!parent || parent.failed || parent.dropped) return { op: 'drop', reason: 'the message it follows is not shown' };
      if (!parent.message) return { op: 'wait' };
      if (!parent.threadId) return { op: 'thread', channelId: parent.message.channelId, parent, threadName: place.threadName };
      return { op: 'post', channelId: parent.threadId };
    }
    if (this.#upToDate(slot)) return slot.hooked === false ? { op: 'hook' } : { op: 'none' };
    return { op: 'edit', channelId: slot.message.channelId };
  }

  #pick(now: number): { job: Job } | { until: number } {
    let best: { order: number; seq: number; job: Job } | undefined;
    let until = Number.POSITIVE_INFINITY;
    const consider = (order: number, seq: number, job: Job) => {
      if (!best || order < best.order || (order === best.order && seq < best.seq)) best = { order, seq, job };
    };
    for (const direct of this.#direct) {
      const gate = this.#gate(direct.channelId, now, direct.lane);
      if (gate > now) until = Math.min(until, gate);
      else consider(LANE_ORDER[direct.lane], direct.seq, { kind: 'direct', direct });
    }
    for (const [key, seq] of this.#queue) {
      const slot = this.#slots.get(key);
      if (!slot || slot.digest) {
        this.#queue.delete(key);
        continue;
      }
      const retry = this.#slotRetry.get(key);
      if (retry && retry.at > now) {
        until = Math.min(until, retry.at);
        continue;
      }
      const target = this.#target(slot);
      if (target.op === 'none' || target.op === 'wait') {
        this.#queue.delete(key); // a parent's post enqueues what waits on it
        continue;
      }
      if (target.op === 'drop') {
        this.#queue.delete(key);
        slot.dropped = { reason: target.reason, at: new Date(now).toISOString() };
        this.#log.info('outbox: a message is not shown', { key, reason: target.reason });
        void this.#persist(slot).catch((err: unknown) => this.#log.warn('cannot record an outbox change', { key, reason: describeError(err) }));
        continue;
      }
      if (target.op === 'hook') {
        consider(-1, seq, { kind: 'slot', slot, target });
        continue;
      }
      const lane = this.#laneOf(slot);
      if (lane === 'update' && slot.shown) {
        const next = Date.parse(slot.shown.at) + this.#o.editIntervalMs;
        if (next > now) {
          until = Math.min(until, next);
          continue;
        }
      }
      const gate = this.#gate(target.channelId, now, lane);
      if (gate > now) {
        until = Math.min(until, gate);
        continue;
      }
      consider(LANE_ORDER[lane], seq, { kind: 'slot', slot, target });
    }
    const chosen = best as { job: Job } | undefined;
    return chosen ? { job: chosen.job } : { until };
  }

  async #execute(job: Job): Promise<void> {
    if (job.kind === 'direct') {
      const d = job.direct;
      this.#direct = this.#direct.filter((x) => x !== d);
      this.#budget.take(d.channelId, this.#now());
      try {
        const value = await d.run();
        this.#channelRetry.delete(d.channelId);
        d.resolve(value);
      } catch (err) {
        if (discordFailure(err).retryable) this.#backOff(d.channelId);
        d.reject(err);
      }
      return;
    }
    const { slot, target } = job;
    this.#inFlight = slot.key;
    try {
      if (target.op === 'hook') {
        await this.#afterPost(slot);
      } else if (target.op === 'thread') {
        this.#budget.take(target.channelId, this.#now());
        const parent = target.parent;
        parent.threadId = await discordCall(() => this.#o.port.thread(target.channelId, parent.message!.messageId, target.threadName));
        this.#channelRetry.delete(target.channelId);
        await this.#persist(parent);
        this.#enqueueDependents(parent.key);
      } else {
        await this.#write(slot, target);
      }
      this.#slotRetry.delete(slot.key);
      if (this.#target(slot).op === 'none') this.#queue.delete(slot.key);
      else this.#requeue(slot.key);
    } catch (err) {
      await this.#failed(slot, target, err).catch((e: unknown) => this.#log.warn('cannot record an outbox change', { key: slot.key, reason: describeError(e) }));
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #afterPost(slot: Slot): Promise<void> {
    await afterPost(slot, this.#hookDeps());
    slot.hooked = true;
    await this.#persist(slot);
  }

  async #write(slot: Slot, target: { op: 'post' | 'edit'; channelId: string }): Promise<void> {
    const view = slot.view;
    const version = slot.version;
    const touch = this.#touches.get(slot.key) ?? 0;
    const facts = await this.#facts(slot);
    let payload: RenderedMessage;
    try {
      payload = renderSlot(slot, facts);
    } catch (err) {
      throw new RenderError(describeError(err), { cause: err });
    }
    const now = this.#now();
    this.#budget.take(target.channelId, now);
    if (target.op === 'post') {
      this.#postTried.add(slot.key);
      slot.message = await discordCall(() => this.#o.port.post(target.channelId, payload, { nonce: slot.nonce }));
      this.#postTried.delete(slot.key);
    } else {
      await discordCall(() => this.#o.port.edit(target.channelId, slot.message!.messageId, payload));
    }
    this.#channelRetry.delete(target.channelId);
    slot.shown = { version, rank: viewRank(view), ...(facts.incident ? { count: facts.incident.count } : {}), at: new Date(now).toISOString() };
    this.#shownTouches.set(slot.key, touch);
    await this.#persist(slot);
    if (target.op === 'post') {
      this.#enqueueDependents(slot.key);
      await this.#afterPost(slot);
    }
  }

  #hookDeps() {
    return { incidents: this.#o.incidents, approvals: this.#o.approvals, audit: this.#o.audit, now: () => new Date(this.#now()) };
  }

  async #facts(slot: Slot): Promise<SlotFacts> {
    const view = slot.view;
    if (isIncidentView(view)) return { incident: await this.#o.incidents.get(view.incidentId).catch(() => undefined) };
    if (view.kind === 'digest') return { members: this.#members(view) };
    if (view.kind === 'part') {
      const digest = this.#slots.get(view.digest);
      return digest?.view.kind === 'digest' ? { digest: digest.view, members: this.#members(digest.view) } : { members: [] };
    }
    return {};
  }

  #members(view: ViewOf<'digest'>): DigestMember[] {
    return view.members.map((k) => this.#slots.get(k)).flatMap((s) => (s ? (digestMember(s) ?? []) : []));
  }

  #enqueueDependents(key: string): void {
    for (const s of this.#slots.values()) {
      if (!('threadOf' in s.place) || s.message || s.failed || s.dropped) continue;
      const parent = this.#slots.get(s.place.threadOf);
      if (s.place.threadOf === key || parent?.digest === key) this.#enqueue(s.key);
    }
  }

  #backOff(channelId: string): number {
    const previous = this.#channelRetry.get(channelId)?.backoff ?? 0;
    const backoff = Math.min(MAX_BACKOFF_MS, previous ? previous * 2 : 1000);
    this.#channelRetry.set(channelId, { at: this.#now() + backoff, backoff });
    return backoff;
  }

  async #failed(slot: Slot, target: SlotTarget, err: unknown): Promise<void> {
    const reason = describeError(err);
    if (!(err instanceof DiscordCallError)) {
      // The outbox's own work (reading the incident, recording, the after-post bookkeeping, rendering):
      // this message is retried on its own, and Discord is not backed off for it.
      const attempts = (this.#slotRetry.get(slot.key)?.attempts ?? 0) + 1;
      if (err instanceof RenderError && attempts >= 3) return this.#giveUp(slot, `cannot render it: ${reason}`);
      this.#slotRetry.set(slot.key, { at: this.#now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempts), attempts });
      this.#requeue(slot.key);
      this.#log.warn('a message could not be prepared or recorded; trying again', { key: slot.key, reason, attempts });
      return;
    }
    const failure = discordFailure(err.cause);
    const channelId = 'channelId' in target ? target.channelId : this.#channelOf(slot);
    if (failure.retryable) {
      const retryInMs = channelId ? this.#backOff(channelId) : 1000;
      if (!channelId) this.#slotRetry.set(slot.key, { at: this.#now() + retryInMs, attempts: 0 });
      this.#log.warn('Discord did not take a message; it stays in the outbox and is sent again', { key: slot.key, reason, retryInMs, waiting: this.#queue.size });
      return;
    }
    if (target.op === 'edit' && (failure.status === 404 || failure.code === 10008)) {
      this.#log.warn('a message sentinel keeps up to date was deleted in Discord; posting it again', { key: slot.key, reason });
      delete slot.message;
      delete slot.shown;
      delete slot.threadId;
      slot.hooked = false;
      slot.nonce = nonceFor(slot.key, new Date(this.#now()).toISOString());
      await this.#persist(slot);
      this.#requeue(slot.key);
      return;
    }
    const attempts = (this.#slotRetry.get(slot.key)?.attempts ?? 0) + 1;
    if (attempts < 3) {
      this.#slotRetry.set(slot.key, { at: this.#now() + 2000 * attempts, attempts });
      this.#log.warn('Discord refused a message; trying again', { key: slot.key, reason, attempts });
      return;
    }
    await this.#giveUp(slot, reason);
  }

  async #giveUp(slot: Slot, reason: string): Promise<void> {
    this.#slotRetry.delete(slot.key);
    this.#queue.delete(slot.key);
    slot.failed = { reason: reason.slice(0, 2000), at: new Date(this.#now()).toISOString() };
    await this.#persist(slot);
    this.#log.error('a message failed three times; it is kept in the outbox as failed and not sent again', { key: slot.key, reason, path: this.#files.pathOf(slot.key) });
  }
}
