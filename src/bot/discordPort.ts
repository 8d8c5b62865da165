import type { APIEmbed, Client } from 'discord.js';
import { DiscordError, NotFoundError } from '../errors.js';
import type { DiscordPort } from '../handlers/ports/discordPort.js';

// The port's types are the handlers' (src/handlers/ports/discordPort.ts); this module implements it.
export type { DiscordPort, PostedMessage, PostOptions } from '../handlers/ports/discordPort.js';

/**
 * What a failed Discord call says about trying again, in a DiscordError's details: `status` (HTTP,
 * absent when no answer came), Discord's error `code`, and `retryable`: no answer, 429 or 5xx
 * (Discord is down or busy: the same call can work later) as opposed to a refusal (4xx: the same
 * call fails the same way).
 */
export interface DiscordFailure {
  status?: number;
  code?: number | string;
  retryable: boolean;
}

/** The failure details of an error a DiscordPort threw (anything else counts as retryable). */
export function discordFailure(err: unknown): DiscordFailure {
  const details = err instanceof DiscordError ? err.details : {};
  const status = typeof details.status === 'number' ? details.status : undefined;
  const code = typeof details.code === 'number' || typeof details.code === 'string' ? details.code : undefined;
  return { ...(status !== undefined ? { status } : {}), ...(code !== undefined ? { code } : {}), retryable: status === undefined || status === 429 || status >= 500 };
}

function discordError(message: string, err: unknown): DiscordError {
  const e = err as { status?: unknown; code?: unknown };
  const status = typeof e?.status === 'number' ? e.status : undefined;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  return new DiscordError(message, { cause: err, details: { ...(status !== undefined ? { status } : {}), ...(code !== undefined ? { code } : {}) } });
}

async function textChannel(client: Client, channelId: string) {
  const channel = await client.channels.fetch(channelId).catch((err: unknown) => {
    throw discordError(`cannot fetch channel ${channelId}: ${(err as Error).message}`, err);
  });
  if (!channel) throw new NotFoundError(`channel ${channelId} not found`);
  if (!channel.isTextBased() || !('send' in channel)) throw new DiscordError(`channel ${channelId} is not a text channel`, { details: { status: 400 } });
  return channel;
}

/** Every message leaves with mentions disabled, whatever the payload says. */
const NO_MENTIONS = { allowedMentions: { parse: [] as never[] } };

export function createDiscordPort(client: Client): DiscordPort {
  return {
    async post(channelId, payload, options = {}) {
      const channel = await textChannel(client, channelId);
      const nonce = options.nonce ? { nonce: options.nonce.slice(0, 25), enforceNonce: true } : {};
      try {
        const message = await channel.send({ ...payload, ...nonce, ...NO_MENTIONS });
        return { channelId: message.channelId, messageId: message.id };
      } catch (err) {
        throw discordError(`cannot post to ${channelId}: ${(err as Error).message}`, err);
      }
    },
    async edit(channelId, messageId, payload) {
      const channel = await textChannel(client, channelId);
      try {
        await channel.messages.edit(messageId, { ...payload, ...NO_MENTIONS });
      } catch (err) {
        throw discordError(`cannot edit message ${messageId}: ${(err as Error).message}`, err);
      }
    },
    async thread(channelId, messageId, name) {
      const channel = await textChannel(client, channelId);
      try {
        const message = await channel.messages.fetch(messageId);
        if (message.thread) return message.thread.id;
        const thread = await message.startThread({ name: name.slice(0, 100) || 'incident' });
        return thread.id;
      } catch (err) {
        throw discordError(`cannot open a thread on ${messageId}: ${(err as Error).message}`, err);
      }
    },
    async fetchEmbeds(channelId, messageId) {
      const channel = await textChannel(client, channelId);
      const message = await channel.messages.fetch(messageId).catch((err: unknown) => {
        throw discordError(`cannot fetch message ${messageId}: ${(err as Error).message}`, err);
      });
      return message.embeds.map((e) => e.toJSON() as APIEmbed);
    },
    isReady() {
      return client.isReady();
    },
  };
}
