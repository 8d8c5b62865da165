import type { APIEmbed, Client, MessageCreateOptions, MessageEditOptions } from 'discord.js';
import { DiscordError, NotFoundError } from '../errors.js';

export interface PostedMessage {
  channelId: string;
  messageId: string;
}

/** What handlers need from Discord, so they stay free of discord.js details. */
export interface DiscordPort {
  post(channelId: string, payload: MessageCreateOptions): Promise<PostedMessage>;
  edit(channelId: string, messageId: string, payload: MessageEditOptions): Promise<void>;
  /** Starts (or finds) the thread on a message and returns its channel id. */
  thread(channelId: string, messageId: string, name: string): Promise<string>;
  /** The embeds a posted message shows now. */
  fetchEmbeds(channelId: string, messageId: string): Promise<APIEmbed[]>;
  isReady(): boolean;
}

async function textChannel(client: Client, channelId: string) {
  const channel = await client.channels.fetch(channelId).catch((err: unknown) => {
    throw new DiscordError(`cannot fetch channel ${channelId}: ${(err as Error).message}`, { cause: err });
  });
  if (!channel) throw new NotFoundError(`channel ${channelId} not found`);
  if (!channel.isTextBased() || !('send' in channel)) throw new DiscordError(`channel ${channelId} is not a text channel`);
  return channel;
}

/** Every message leaves with mentions disabled, whatever the payload says. */
const NO_MENTIONS = { allowedMentions: { parse: [] as never[] } };

export function createDiscordPort(client: Client): DiscordPort {
  return {
    async post(channelId, payload) {
      const channel = await textChannel(client, channelId);
      try {
        const message = await channel.send({ ...payload, ...NO_MENTIONS });
        return { channelId: message.channelId, messageId: message.id };
      } catch (err) {
        throw new DiscordError(`cannot post to ${channelId}: ${(err as Error).message}`, { cause: err });
      }
    },
    async edit(channelId, messageId, payload) {
      const channel = await textChannel(client, channelId);
      try {
        await channel.messages.edit(messageId, { ...payload, ...NO_MENTIONS });
      } catch (err) {
        throw new DiscordError(`cannot edit message ${messageId}: ${(err as Error).message}`, { cause: err });
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
        throw new DiscordError(`cannot open a thread on ${messageId}: ${(err as Error).message}`, { cause: err });
      }
    },
    async fetchEmbeds(channelId, messageId) {
      const channel = await textChannel(client, channelId);
      const message = await channel.messages.fetch(messageId).catch((err: unknown) => {
        throw new DiscordError(`cannot fetch message ${messageId}: ${(err as Error).message}`, { cause: err });
      });
      return message.embeds.map((e) => e.toJSON() as APIEmbed);
    },
    isReady() {
      return client.isReady();
    },
  };
}
