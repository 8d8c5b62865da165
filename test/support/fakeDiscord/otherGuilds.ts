/**
 * Guilds the bot is in besides the main one: a server where someone else added the application.
 * Each has its own @everyone role (sharing the guild's id), the bot's managed role, its own
 * members (users are global: alice can be in both), channels (stored with the state's other
 * channels, carrying this guild's id) and guild-scoped commands. Discord sends the bot a
 * GUILD_CREATE for each, and interactions from them carry their guild_id, channel and member.
 *
 * Only what a bot needs to receive interactions from such a guild is modelled: REST routes under
 * /guilds/:id still serve the main guild alone (10004 Unknown Guild for these).
 */
import { snowflake, discordTimestamp } from './snowflake.js';
import { ALL_PERMISSIONS, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, Intent, Permission, THREAD_TYPES, publicUser, toPermissions, type FakeDiscordState, type MemberEntry } from './state.js';
import type { APIApplicationCommand, APIGuildMember, APIRole, FakeChannel, GuildSpec } from './types.js';

function role(id: string, name: string, permissions: bigint, position: number): APIRole {
  return {
    id,
    name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: permissions.toString(),
    managed: false,
    mentionable: false,
    flags: 0,
  } as unknown as APIRole;
}

export class OtherGuild {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly created: string;
  readonly preferredLocale = 'en-US';
  readonly roles = new Map<string, APIRole>();
  readonly members = new Map<string, MemberEntry>();
  /** Guild commands registered in this guild (key: id). */
  readonly commands = new Map<string, APIApplicationCommand>();

  constructor(
    private readonly state: FakeDiscordState,
    spec: GuildSpec,
  ) {
    this.id = spec.id ?? snowflake(Date.now() - 86_400_000 * 200);
    if (this.id === state.guildId || state.otherGuilds.has(this.id)) throw new Error(`fakeDiscord: guild ${this.id} already exists`);
    this.name = spec.name ?? 'Another Guild';
    this.created = discordTimestamp(Date.now() - 86_400_000 * 200);
    const owner = state.createUser({ username: `${this.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-owner` });
    this.ownerId = owner.id;

    this.roles.set(this.id, role(this.id, '@everyone', DEFAULT_EVERYONE_PERMISSIONS, 0));
    const botRole = role(snowflake(), state.botUser.username, DEFAULT_BOT_PERMISSIONS, 1);
    botRole.managed = true;
    botRole.tags = { bot_id: state.botUser.id };
    this.roles.set(botRole.id, botRole);
    for (const [i, r] of (spec.roles ?? []).entries()) {
      const created = role(r.id ?? snowflake(), r.name, toPermissions(r.permissions, 0n), r.position ?? i + 2);
      this.roles.set(created.id, created);
    }

    const now = discordTimestamp();
    this.members.set(state.botUser.id, { userId: state.botUser.id, roles: [botRole.id], nick: null, joined_at: now });
    this.members.set(owner.id, { userId: owner.id, roles: [], nick: null, joined_at: this.created });
    for (const m of spec.members ?? []) {
      const user = state.createUser(m);
      this.members.set(user.id, { userId: user.id, roles: this.resolveRoleIds(m.roles ?? []), nick: m.nick ?? null, joined_at: now });
    }
    for (const c of spec.channels ?? [{ name: 'general' }]) state.createChannel(c, this.id);
  }

  /** Role ids from ids or names of this guild's roles; unknown ones throw. */
  resolveRoleIds(idsOrNames: readonly string[]): string[] {
    return idsOrNames.map((value) => {
      if (this.roles.has(value)) return value;
      for (const r of this.roles.values()) if (r.name === value) return r.id;
      throw new Error(`fakeDiscord: guild ${this.name} has no role ${value}`);
    });
  }

  channels(): FakeChannel[] {
    return [...this.state.channels.values()].filter((c) => c.guild_id === this.id);
  }

  channel(name: string): FakeChannel {
    const found = this.channels().find((c) => c.name === name);
    if (!found) throw new Error(`fakeDiscord: guild ${this.name} has no channel ${name}`);
    return found;
  }

  memberPayload(userId: string, roleOverride?: string[]): APIGuildMember {
    const entry = this.members.get(userId);
    if (!entry) throw new Error(`fakeDiscord: ${userId} is not a member of guild ${this.name}`);
    return {
      user: publicUser(this.state.requireUser(userId)),
      nick: entry.nick,
      avatar: null,
      banner: null,
      roles: [...(roleOverride ?? entry.roles)],
      joined_at: entry.joined_at,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
      unusual_dm_activity_until: null,
    } as unknown as APIGuildMember;
  }

  /** Guild-level permissions of a member of this guild (owner and administrators get everything). */
  permissionsOf(userId: string, roleOverride?: string[]): bigint {
    if (userId === this.ownerId) return ALL_PERMISSIONS;
    const roles = roleOverride ?? this.members.get(userId)?.roles ?? [];
    let perms = BigInt(this.roles.get(this.id)?.permissions ?? '0');
    for (const id of roles) perms |= BigInt(this.roles.get(id)?.permissions ?? '0');
    return perms & Permission.Administrator ? ALL_PERMISSIONS : perms;
  }

  /** GUILD_CREATE payload as sent to a session with the given intents. */
  guildCreatePayload(intents: number): Record<string, unknown> {
    const memberIds = intents & Intent.GuildMembers ? [...this.members.keys()] : [this.state.botUser.id];
    const channels = this.channels();
    return {
      id: this.id,
      name: this.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: this.ownerId,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 1,
      default_message_notifications: 1,
      explicit_content_filter: 2,
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      max_members: 25_000_000,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: this.preferredLocale,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      roles: [...this.roles.values()],
      emojis: [],
      stickers: [],
      joined_at: this.members.get(this.state.botUser.id)?.joined_at ?? this.created,
      large: this.members.size > 50,
      unavailable: false,
      lazy: true,
      member_count: this.members.size,
      voice_states: [],
      members: memberIds.map((id) => this.memberPayload(id)),
      // GUILD_CREATE lists channels without guild_id, as Discord does.
      channels: channels.filter((c) => !THREAD_TYPES.has(c.type)).map(({ guild_id: _g, ...rest }) => rest),
      threads: channels.filter((c) => THREAD_TYPES.has(c.type) && !c.thread_metadata?.archived),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      embedded_activities: [],
      activity_instances: [],
      application_command_counts: {},
      home_header: null,
      version: Date.now(),
    };
  }
}
