import type { MessageEditOptions } from 'discord.js';
import type { Logger } from '../logger.js';
import type { DiscordPort } from './discordPort.js';

export interface ThrottledEditor {
  /** Asks for the message to show `render()`; edits at most once per interval, always ending on the latest state. */
  schedule(channelId: string, messageId: string, render: () => MessageEditOptions): void;
  /** Sends every pending edit now (shutdown). */
  flush(): Promise<void>;
}

interface Slot {
  last: number;
  timer?: NodeJS.Timeout;
  render?: () => MessageEditOptions;
  running?: Promise<void>;
}

/**
 * Bounded-rate message edits: a burst of updates to one incident message
 * becomes one edit now and one trailing edit after the interval, so an attack
 * storm cannot hit Discord's rate limits. Nothing is dropped: the last edit
 * always shows the latest state.
 */
export function createThrottledEditor(port: DiscordPort, intervalMs: number, logger: Logger, now: () => number = Date.now): ThrottledEditor {
  const slots = new Map<string, Slot>();
  const fire = async (channelId: string, messageId: string, slot: Slot) => {
    const render = slot.render;
    slot.render = undefined;
    slot.timer = undefined;
    if (!render) return;
    slot.last = now();
    slot.running = port.edit(channelId, messageId, render()).catch((err: Error) => {
      logger.warn('incident message edit failed', { messageId, reason: err.message });
    });
    await slot.running;
    slot.running = undefined;
  };
  return {
    schedule(channelId, messageId, render) {
      const key = `${channelId}/${messageId}`;
      const slot = slots.get(key) ?? { last: 0 };
      slots.set(key, slot);
      slot.render = render;
      if (slot.timer) return;
      const wait = Math.max(0, slot.last + intervalMs - now());
      slot.timer = setTimeout(() => void fire(channelId, messageId, slot), wait);
      slot.timer.unref?.();
    },
    async flush() {
      const pending: Promise<void>[] = [];
      for (const [key, slot] of slots) {
        const [channelId, messageId] = key.split('/') as [string, string];
        if (slot.timer) clearTimeout(slot.timer);
        if (slot.running) pending.push(slot.running);
        if (slot.render) pending.push(fire(channelId, messageId, slot));
      }
      await Promise.all(pending);
    },
  };
}
