/** Gateway dispatches that follow state changes, filtered by intents as Discord does. */
import type { FakeGateway, GatewaySession } from './gateway.js';
import { type FakeDiscordState, Intent, isEphemeral } from './state.js';
import type { APIMessage, APIRole, FakeChannel } from './types.js';

type Json = Record<string, unknown>;

export class FakeEvents {
  constructor(
    private readonly state: FakeDiscordState,
    private readonly gateway: FakeGateway,
  ) {}

  private guildMessagePayload(message: APIMessage, session: GatewaySession): Json {
    const state = this.state;
    const payload: Json = { ...(message as unknown as Json) };
    const channel = state.channels.get(message.channel_id);
    if (channel?.guild_id) {
      payload.guild_id = channel.guild_id;
      if (state.members.has(message.author.id) && !message.webhook_id) {
        const { user: _user, ...member } = state.memberPayload(message.author.id);
        payload.member = member;
      }
      payload.mentions = message.mentions.map((user) => {
        if (!state.members.has(user.id)) return user;
        const { user: _u, ...member } = state.memberPayload(user.id);
        return { ...user, member };
      });
    }
    // Without MESSAGE_CONTENT, a bot only sees the content of its own messages, DMs and mentions.
    const exempt =
      message.author.id === state.botUser.id ||
      !channel?.guild_id ||
      message.mentions.some((u) => u.id === state.botUser.id);
    if (!(session.intents & Intent.MessageContent) && !exempt) {
      payload.content = '';
      payload.embeds = [];
      payload.attachments = [];
      payload.components = [];
      delete payload.poll;
    }
    return payload;
  }

  private messageIntent(message: APIMessage): number {
    const channel = this.state.channels.get(message.channel_id);
    return channel?.guild_id ? Intent.GuildMessages : Intent.DirectMessages;
  }

  messageCreate(message: APIMessage): void {
    if (isEphemeral(message)) return;
    this.gateway.dispatch('MESSAGE_CREATE', (s: GatewaySession) => this.guildMessagePayload(message, s), this.messageIntent(message));
  }

  messageUpdate(message: APIMessage): void {
    if (isEphemeral(message)) return;
    this.gateway.dispatch('MESSAGE_UPDATE', (s: GatewaySession) => this.guildMessagePayload(message, s), this.messageIntent(message));
  }

  messageDelete(message: APIMessage): void {
    if (isEphemeral(message)) return;
    const channel = this.state.channels.get(message.channel_id);
    const d: Json = { id: message.id, channel_id: message.channel_id };
    if (channel?.guild_id) d.guild_id = channel.guild_id;
    this.gateway.dispatch('MESSAGE_DELETE', d, this.messageIntent(message));
  }

  channelCreate(channel: FakeChannel): void {
    this.gateway.dispatch('CHANNEL_CREATE', channel, Intent.Guilds);
  }

  channelDelete(channel: FakeChannel): void {
    this.gateway.dispatch('CHANNEL_DELETE', channel, Intent.Guilds);
  }

  threadCreate(thread: FakeChannel): void {
    this.gateway.dispatch('THREAD_CREATE', { ...thread, newly_created: true }, Intent.Guilds);
  }

  roleCreate(role: APIRole): void {
    this.gateway.dispatch('GUILD_ROLE_CREATE', { guild_id: this.state.guildId, role }, Intent.Guilds);
  }

  roleUpdate(role: APIRole): void {
    this.gateway.dispatch('GUILD_ROLE_UPDATE', { guild_id: this.state.guildId, role }, Intent.Guilds);
  }

  roleDelete(roleId: string): void {
    this.gateway.dispatch('GUILD_ROLE_DELETE', { guild_id: this.state.guildId, role_id: roleId }, Intent.Guilds);
  }

  memberAdd(userId: string): void {
    this.gateway.dispatch('GUILD_MEMBER_ADD', { ...this.state.memberPayload(userId), guild_id: this.state.guildId }, Intent.GuildMembers);
  }

  memberUpdate(userId: string): void {
    this.gateway.dispatch('GUILD_MEMBER_UPDATE', { ...this.state.memberPayload(userId), guild_id: this.state.guildId }, Intent.GuildMembers);
  }

  memberRemove(_userId: string, user: unknown): void {
    this.gateway.dispatch('GUILD_MEMBER_REMOVE', { guild_id: this.state.guildId, user }, Intent.GuildMembers);
  }

  reactionAdd(message: APIMessage, userId: string, emoji: Json): void {
    const d: Json = { user_id: userId, channel_id: message.channel_id, message_id: message.id, emoji, type: 0, burst: false };
    const channel = this.state.channels.get(message.channel_id);
    if (channel?.guild_id) d.guild_id = channel.guild_id;
    this.gateway.dispatch('MESSAGE_REACTION_ADD', d, Intent.GuildMessageReactions);
  }
}
