/**
 * Per-channel rate limits on message writes, off unless asked for (`channelRateLimit` option or
 * `fake.setChannelRateLimit`). Every create, edit and delete of a message in a channel, and every
 * thread started from one of its messages, counts against one sliding window per channel (Discord
 * allows about 5 per 5 s): over the limit, the write is answered 429 with Discord's body and
 * headers (`retry-after`, `x-ratelimit-*`, scope `user`) and changes nothing. A write within the
 * limit carries the true remaining count. Injected faults are answered before the limit is
 * consulted and do not count against it; 429s it gives are recorded without `injected`.
 */
import { bucketHash, type FaultAnswer } from './faults.js';

export interface ChannelRateLimit {
  /** Writes allowed per channel in any window. */
  limit: number;
  windowMs: number;
}

const WRITE_ROUTES: ReadonlySet<string> = new Set([
  'POST /channels/:channel_id/messages',
  'PATCH /channels/:channel_id/messages/:message_id',
  'DELETE /channels/:channel_id/messages/:message_id',
  'POST /channels/:channel_id/messages/:message_id/threads',
]);

export class ChannelLimits {
  private setting: ChannelRateLimit | undefined;
  private readonly writes = new Map<string, number[]>();
  /** 429s given so far (per channel). */
  readonly refused = new Map<string, number>();

  constructor(setting?: ChannelRateLimit) {
    this.set(setting);
  }

  set(setting: ChannelRateLimit | undefined): void {
    if (setting && (!(setting.limit >= 1) || !(setting.windowMs > 0))) throw new Error('fakeDiscord: channelRateLimit needs limit >= 1 and windowMs > 0');
    this.setting = setting;
    this.writes.clear();
  }

  /**
   * For a write within the limit: its headers (the write is counted). Over the limit: the 429 to
   * answer. Anything else (limits off, not a message write): undefined.
   */
  take(method: string, route: string | null, channelId: string | undefined, now = Date.now()): { headers: Record<string, string> } | { refused: FaultAnswer } | undefined {
    const setting = this.setting;
    if (!setting || !route || !channelId || !WRITE_ROUTES.has(`${method} ${route}`)) return undefined;
    const since = now - setting.windowMs;
    const recent = (this.writes.get(channelId) ?? []).filter((t) => t > since);
    this.writes.set(channelId, recent);
    const resetAfter = recent.length ? (recent[0]! + setting.windowMs - now) / 1000 : setting.windowMs / 1000;
    const headers = (remaining: number): Record<string, string> => ({
      'x-ratelimit-bucket': bucketHash(method, route),
      'x-ratelimit-limit': String(setting.limit),
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': ((now + resetAfter * 1000) / 1000).toFixed(3),
      'x-ratelimit-reset-after': resetAfter.toFixed(3),
    });
    if (recent.length >= setting.limit) {
      this.refused.set(channelId, (this.refused.get(channelId) ?? 0) + 1);
      const retryAfter = Math.max(0.001, resetAfter);
      return {
        refused: {
          kind: 'rate_limit',
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: Number(retryAfter.toFixed(3)), global: false },
          headers: { ...headers(0), 'retry-after': retryAfter.toFixed(3), 'x-ratelimit-scope': 'user' },
        },
      };
    }
    recent.push(now);
    return { headers: headers(setting.limit - recent.length) };
  }
}
