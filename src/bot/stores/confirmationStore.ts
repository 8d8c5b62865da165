import { randomBytes } from 'node:crypto';

/** A slash command waiting for its issuer's Confirm. */
export interface PendingConfirmation {
  confirmId: string;
  userId: string;
  actionId: string;
  input: unknown;
  reason: string;
  incidentId: string;
  summary: string;
  expiresAt: number;
}

/**
 * Pending confirmations, kept in memory for a short time (Discord's ephemeral
 * replies cannot be acted on after 15 minutes anyway). After a restart a
 * Confirm click is answered "expired: run the command again".
 */
export class ConfirmationStore {
  readonly #items = new Map<string, PendingConfirmation>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  add(item: Omit<PendingConfirmation, 'confirmId' | 'expiresAt'>): PendingConfirmation {
    this.#sweep();
    const confirmId = randomBytes(12).toString('base64url');
    const pending = { ...item, confirmId, expiresAt: this.#now() + this.#ttlMs };
    this.#items.set(confirmId, pending);
    return pending;
  }

  /** Takes the confirmation out (at most once); undefined when unknown or expired. */
  take(confirmId: string): PendingConfirmation | undefined {
    const item = this.#items.get(confirmId);
    this.#items.delete(confirmId);
    return item && item.expiresAt > this.#now() ? item : undefined;
  }

  /** Looks without taking (to check who may answer). */
  peek(confirmId: string): PendingConfirmation | undefined {
    const item = this.#items.get(confirmId);
    return item && item.expiresAt > this.#now() ? item : undefined;
  }

  #sweep() {
    const now = this.#now();
    for (const [id, item] of this.#items) if (item.expiresAt <= now) this.#items.delete(id);
  }
}
