/**
 * The per-channel write budget: at most `limit` writes in any `windowMs` (a sliding window, so no
 * burst at a window's edge can exceed it), set below Discord's own limit (5 per 5 s per channel)
 * so that sentinel's writes never meet a 429. Every message of a channel shares it.
 *
 * A reserve (`reserve` writes, 1 by default) is kept for the approval lane: the other lanes stop
 * when the window holds `limit - reserve` writes, so counters, digests, new incidents and reports
 * can never spend the window's last write, and an approval recorded at any moment finds a write
 * free at once (unless other approvals took it). A budget of one write keeps no reserve.
 */
export class ChannelBudget {
  readonly #limit: number;
  readonly #reserve: number;
  readonly #windowMs: number;
  readonly #writes = new Map<string, number[]>();

  constructor(limit: number, windowMs: number, reserve = 1) {
    this.#limit = Math.max(1, Math.floor(limit));
    this.#reserve = Math.min(this.#limit - 1, Math.max(0, Math.floor(reserve)));
    this.#windowMs = Math.max(1, windowMs);
  }

  #recent(channelId: string, now: number): number[] {
    const since = now - this.#windowMs;
    const kept = (this.#writes.get(channelId) ?? []).filter((t) => t > since);
    if (kept.length) this.#writes.set(channelId, kept);
    else this.#writes.delete(channelId);
    return kept;
  }

  /**
   * When the channel can take its next write: `now` when it can now. `reserved` says whether this
   * write may use the reserve (the approval lane); the other lanes stop short of it.
   */
  nextAt(channelId: string, now: number, reserved = true): number {
    const limit = reserved ? this.#limit : this.#limit - this.#reserve;
    const recent = this.#recent(channelId, now);
    return recent.length < limit ? now : recent[recent.length - limit]! + this.#windowMs + 1;
  }

  /** Counts one write (call it when the write is sent). */
  take(channelId: string, now: number): void {
    const recent = this.#recent(channelId, now);
    recent.push(now);
    this.#writes.set(channelId, recent);
  }
}
