/**
 * Confirmations: the plan-then-confirm step of every slash command that changes something, and
 * its two-person rule. This module holds the record, the pure transitions and a small in-memory
 * store that applies them.
 *
 * - The responder who ran the command (`initiatedBy`) sees the plan (the action's dry run) and
 *   confirms it first; nobody else can (`refused`, reason `not-initiator`).
 * - An action listed in SENTINEL_TWO_PERSON_ACTIONS needs a second confirmation by a different
 *   responder, whoever started it: the initiator and anyone who already confirmed are refused
 *   (the check shared with the approval store, src/policy/checkVote.ts).
 * - Exactly one call ever gets `confirmed` (then the action runs) or `cancelled`; the record
 *   leaves the store with it, so a second click finds nothing.
 *
 * Kept in memory on purpose: a restart (or another replica) drops unconfirmed commands, and a late
 * click is answered "expired: run the command again", which is safe: nothing runs without a
 * fresh plan. The deployment runs one replica (docs/deploy.md), so both confirmations reach the
 * process that holds the record.
 */
import { randomBytes } from 'node:crypto';
import { checkVote, sameActor, type VoteRefusal } from '../policy/checkVote.js';

export interface ConfirmationVote {
  /** `discord:<user id>`. */
  by: string;
  at: string;
}

/** A slash command waiting for its confirmations. */
export interface PendingConfirmation {
  confirmId: string;
  /** The command as typed, for the audit and the messages (`/isolate`, `/unblock`, `/evidence collect`). */
  command: string;
  /** `discord:<user id>` of the responder who ran the command. */
  initiatedBy: string;
  actionId: string;
  input: unknown;
  reason: string;
  incidentId: string;
  /** What the command will do, in one line (`isolate pod prod/web-7d9f`). */
  summary: string;
  /** Different responders who must confirm, the initiator included: 2 for a two-person action. */
  requiredConfirmations: 1 | 2;
  confirmations: ConfirmationVote[];
  /** Where the request for a second responder was posted, once it was. */
  channelId?: string;
  messageId?: string;
  expiresAt: number;
}

export type ConfirmResult =
  /** Every required confirmation is in: run the action. Exactly one call per confirmation gets this. */
  | { outcome: 'confirmed'; item: PendingConfirmation }
  /** Counted; a different responder must confirm too. */
  | { outcome: 'pending-second'; item: PendingConfirmation }
  /** Not counted: not the initiator (first confirmation), or the initiator or a repeat voter (second). */
  | { outcome: 'refused'; item: PendingConfirmation; reason: VoteRefusal | 'not-initiator' }
  /** Unknown, expired, already confirmed or cancelled. */
  | { outcome: 'expired' };

export type CancelResult =
  | { outcome: 'cancelled'; item: PendingConfirmation }
  | { outcome: 'refused'; item: PendingConfirmation; reason: 'not-initiator' }
  | { outcome: 'expired' };

export interface ConfirmationTransition<R> {
  /** The record to keep; undefined to remove it (confirmed or cancelled). */
  next: PendingConfirmation | undefined;
  result: R;
}

/**
 * A confirmation by `by` at `now`. The first must come from the initiator (who saw the plan); any
 * further one from a responder who neither started the action nor confirmed it already.
 * A counted confirmation restarts the time left, so a second responder gets the full time.
 */
export function confirmTransition(item: PendingConfirmation, by: string, now: number, ttlMs: number): ConfirmationTransition<ConfirmResult> {
  if (item.confirmations.length === 0) {
    if (!sameActor(by, item.initiatedBy)) return { next: item, result: { outcome: 'refused', item, reason: 'not-initiator' } };
  } else {
    const vote = checkVote({ by, voters: item.confirmations.map((c) => c.by), initiatedBy: item.initiatedBy });
    if (!vote.ok) return { next: item, result: { outcome: 'refused', item, reason: vote.reason } };
  }
  const confirmed: PendingConfirmation = { ...item, confirmations: [...item.confirmations, { by, at: new Date(now).toISOString() }] };
  if (confirmed.confirmations.length >= item.requiredConfirmations) return { next: undefined, result: { outcome: 'confirmed', item: confirmed } };
  const next = { ...confirmed, expiresAt: now + ttlMs };
  return { next, result: { outcome: 'pending-second', item: next } };
}

/**
 * A Cancel by `by`. Before the initiator has confirmed, only they can cancel (the plan is theirs);
 * afterwards any responder may decline to be the second: cancelling changes nothing, which is
 * always the safe side.
 */
export function cancelTransition(item: PendingConfirmation, by: string): ConfirmationTransition<CancelResult> {
  if (item.confirmations.length === 0 && !sameActor(by, item.initiatedBy)) return { next: item, result: { outcome: 'refused', item, reason: 'not-initiator' } };
  return { next: undefined, result: { outcome: 'cancelled', item } };
}

export type NewConfirmation = Omit<PendingConfirmation, 'confirmId' | 'expiresAt' | 'confirmations' | 'channelId' | 'messageId'>;

/**
 * Pending confirmations in memory, for a short time (Discord's ephemeral replies cannot be acted
 * on after 15 minutes anyway). Each transition is applied synchronously, so of two simultaneous
 * clicks exactly one confirms.
 */
export class ConfirmationStore {
  readonly #items = new Map<string, PendingConfirmation>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  add(item: NewConfirmation): PendingConfirmation {
    this.#sweep();
    const confirmId = randomBytes(12).toString('base64url');
    const pending: PendingConfirmation = { ...item, confirmations: [], confirmId, expiresAt: this.#now() + this.#ttlMs };
    this.#items.set(confirmId, pending);
    return pending;
  }

  /** Looks without changing anything (to name the command in a refusal). */
  peek(confirmId: string): PendingConfirmation | undefined {
    const item = this.#items.get(confirmId);
    return item && item.expiresAt > this.#now() ? item : undefined;
  }

  confirm(confirmId: string, by: string): ConfirmResult {
    const item = this.peek(confirmId);
    if (!item) return this.#drop(confirmId);
    return this.#apply(confirmId, confirmTransition(item, by, this.#now(), this.#ttlMs));
  }

  cancel(confirmId: string, by: string): CancelResult {
    const item = this.peek(confirmId);
    if (!item) return this.#drop(confirmId);
    return this.#apply(confirmId, cancelTransition(item, by));
  }

  /** Records where the request for a second responder was posted. */
  attachMessage(confirmId: string, channelId: string, messageId: string): void {
    const item = this.#items.get(confirmId);
    if (item) this.#items.set(confirmId, { ...item, channelId, messageId });
  }

  #apply<R>(confirmId: string, t: ConfirmationTransition<R>): R {
    if (t.next) this.#items.set(confirmId, t.next);
    else this.#items.delete(confirmId);
    return t.result;
  }

  #drop(confirmId: string): { outcome: 'expired' } {
    this.#items.delete(confirmId);
    return { outcome: 'expired' };
  }

  #sweep() {
    const now = this.#now();
    for (const [id, item] of this.#items) if (item.expiresAt <= now) this.#items.delete(id);
  }
}
