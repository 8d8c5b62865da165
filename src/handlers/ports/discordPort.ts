/**
 * What handlers need from Discord, so they stay free of discord.js's client: post, edit, thread,
 * read back. The bot implements it over a discord.js Client (src/bot/discordPort.ts).
 */
import type { APIEmbed, MessageCreateOptions, MessageEditOptions } from 'discord.js';

export interface PostedMessage {
  channelId: string;
  messageId: string;
}

export interface PostOptions {
  /**
   * Sent with `enforce_nonce`: Discord returns the message an earlier create with the same nonce
   * made in the last few minutes instead of posting again, so a post retried after a crash (made,
   * but its id never recorded) is posted once. At most 25 characters.
   */
  nonce?: string;
}

/** What handlers need from Discord, so they stay free of discord.js details. */
export interface DiscordPort {
  post(channelId: string, payload: MessageCreateOptions, options?: PostOptions): Promise<PostedMessage>;
  edit(channelId: string, messageId: string, payload: MessageEditOptions): Promise<void>;
  /** Starts (or finds) the thread on a message and returns its channel id. */
  thread(channelId: string, messageId: string, name: string): Promise<string>;
  /** The embeds a posted message shows now. */
  fetchEmbeds(channelId: string, messageId: string): Promise<APIEmbed[]>;
  isReady(): boolean;
}
