/**
 * The per-channel write budget: at most `limit` writes in any `windowMs` (a sliding window, so no
 * burst at a window's edge can exceed it), set below Discord's own limit (5 per 5 s per channel)
 * so that sentinel's writes never meet a 429. Every message of a channel shares it.
 */
export class ChannelBudget {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #writes = new Map<string, number[]>();

  constructor(limit: number, windowMs: number) {
    this.#limit = Math.max(1, Math.floor(limit));
    this.#windowMs = Math.max(1, windowMs);
  }

  #recent(channelId: string, now: number): number[] {
    const since = now - this.#windowMs;
    const kept = (this.#writes.get(channelId) ?? []).filter((t) => t > since);
    if (kept.length) this.#writes.set(channelId, kept);
    else this.#writes.delete(channelId);
    return kept;
  }

  /** When the channel can take its next write: `now` when it can now. */
  nextAt(channelId: string, now: number): number {
    const recent = this.#recent(channelId, now);
    return recent.length < this.#limit ? now : recent[recent.length - this.#limit]! + this.#windowMs + 1;
  }

  /** Counts one write (call it when the write is sent). */
  take(channelId: string, now: number): void {
    const recent = this.#recent(channelId, now);
    recent.push(now);
    this.#writes.set(channelId, recent);
  }
}
