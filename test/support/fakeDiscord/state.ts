/**
 * The fake's world: application, bot user, one guild with roles, channels, members, messages and
 * registered commands, and any other guilds the bot was added to (otherGuilds.ts). Objects are
 * stored in the shape Discord returns them.
 */
import { randomBytes } from 'node:crypto';
import { errors } from './errors.js';
import type { OtherGuild } from './otherGuilds.js';
import { discordTimestamp, snowflake } from './snowflake.js';
import type {
  APIApplicationCommand,
  APIGuildMember,
  APIMessage,
  APIRole,
  APIUser,
  ChannelSpec,
  FakeChannel,
  FakeDiscordOptions,
  MemberSpec,
  PermissionsInput,
  RoleSpec,
} from './types.js';

export const Permission = {
  CreateInstantInvite: 1n << 0n,
  KickMembers: 1n << 1n,
  BanMembers: 1n << 2n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewAuditLog: 1n << 7n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  UseExternalEmojis: 1n << 18n,
  Connect: 1n << 20n,
  Speak: 1n << 21n,
  ChangeNickname: 1n << 26n,
  ManageRoles: 1n << 28n,
  ManageWebhooks: 1n << 29n,
  UseApplicationCommands: 1n << 31n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  CreatePrivateThreads: 1n << 36n,
  SendMessagesInThreads: 1n << 38n,
  ModerateMembers: 1n << 40n,
} as const;

/** Every permission bit Discord currently defines (what admins get in app_permissions). */
export const ALL_PERMISSIONS = (1n << 51n) - 1n;

export const DEFAULT_EVERYONE_PERMISSIONS =
  Permission.CreateInstantInvite |
  Permission.AddReactions |
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.EmbedLinks |
  Permission.AttachFiles |
  Permission.ReadMessageHistory |
  Permission.UseExternalEmojis |
  Permission.Connect |
  Permission.Speak |
  Permission.ChangeNickname |
  Permission.UseApplicationCommands |
  Permission.CreatePublicThreads |
  Permission.SendMessagesInThreads;

export const DEFAULT_BOT_PERMISSIONS =
  DEFAULT_EVERYONE_PERMISSIONS | Permission.ManageMessages | Permission.ManageThreads | Permission.ManageRoles;

export const ChannelType = {
  GuildText: 0,
  DM: 1,
  GuildVoice: 2,
  GuildCategory: 4,
  GuildAnnouncement: 5,
  AnnouncementThread: 10,
  PublicThread: 11,
  PrivateThread: 12,
  GuildForum: 15,
} as const;

export const TEXT_CHANNEL_TYPES: ReadonlySet<number> = new Set([0, 1, 5, 10, 11, 12]);
export const THREAD_TYPES: ReadonlySet<number> = new Set([10, 11, 12]);

export const Intent = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildPresences: 1 << 8,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  DirectMessages: 1 << 12,
  MessageContent: 1 << 15,
} as const;

export const PRIVILEGED_INTENTS = Intent.GuildMembers | Intent.GuildPresences | Intent.MessageContent;
/** Highest defined intent is DIRECT_MESSAGE_POLLS (1 << 25). */
export const ALL_INTENTS = (1 << 26) - 1;

export function toPermissions(value: PermissionsInput | undefined, fallback: bigint): bigint {
  if (value === undefined) return fallback;
  return BigInt(value);
}

export interface MemberEntry {
  userId: string;
  roles: string[];
  nick: string | null;
  joined_at: string;
}

export interface FakeApplication {
  id: string;
  name: string;
  icon: null;
  description: string;
  summary: '';
  bot_public: boolean;
  bot_require_code_grant: boolean;
  verify_key: string;
  flags: number;
  flags_new: string;
  team: null;
  owner: APIUser;
  bot: APIUser;
  redirect_uris: string[];
  interactions_endpoint_url: null;
  approximate_guild_count: number;
  integration_types_config: Record<string, unknown>;
}

function makeUser(id: string, username: string, extra: Partial<APIUser> = {}): APIUser {
  const user = {
    id,
    username,
    discriminator: extra.bot ? String(1000 + Number(BigInt(id) % 9000n)) : '0',
    global_name: extra.bot ? null : username,
    avatar: null,
    public_flags: 0,
    flags: 0,
    banner: null,
    accent_color: null,
    avatar_decoration_data: null,
    collectibles: null,
    primary_guild: null,
    ...extra,
  };
  return user as unknown as APIUser;
}

/** The subset of user fields Discord embeds in messages and members. */
export function publicUser(user: APIUser): APIUser {
  const { email: _email, verified: _verified, mfa_enabled: _mfa, locale: _locale, premium_type: _pt, ...rest } = user;
  return rest;
}

export class FakeDiscordState {
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  readonly botUser: APIUser;
  readonly ownerUser: APIUser;
  readonly application: FakeApplication;
  readonly privilegedIntents: number;
  readonly guild: { name: string; owner_id: string; created: string; preferred_locale: string };

  readonly users = new Map<string, APIUser>();
  readonly roles = new Map<string, APIRole>();
  readonly channels = new Map<string, FakeChannel>();
  readonly members = new Map<string, MemberEntry>();
  readonly messages = new Map<string, APIMessage>();
  /** Global commands (key: id). */
  readonly globalCommands = new Map<string, APIApplicationCommand>();
  /** Guild commands (key: id). */
  readonly guildCommands = new Map<string, APIApplicationCommand>();
  /** Reactions by message id → emoji key → user ids. */
  readonly reactions = new Map<string, Map<string, Set<string>>>();
  /** Guilds besides the main one that the bot is in (key: guild id). */
  readonly otherGuilds = new Map<string, OtherGuild>();

  constructor(options: FakeDiscordOptions = {}) {
    this.applicationId = options.applicationId ?? snowflake(Date.now() - 86_400_000 * 400);
    this.token =
      options.token ??
      `${Buffer.from(this.applicationId).toString('base64url')}.${randomBytes(4).toString('base64url')}.${randomBytes(27).toString('base64url')}`;
    this.guildId = options.guildId ?? snowflake(Date.now() - 86_400_000 * 300);
    this.privilegedIntents = options.privilegedIntents ?? PRIVILEGED_INTENTS;

    // Bots made since 2020 share their application's id.
    this.botUser = makeUser(this.applicationId, options.botUsername ?? 'Sentinel', {
      bot: true,
      verified: true,
      mfa_enabled: false,
      email: null,
      locale: 'en-US',
    });
    this.ownerUser = makeUser(snowflake(Date.now() - 86_400_000 * 900), 'guild-owner');
    this.users.set(this.botUser.id, this.botUser);
    this.users.set(this.ownerUser.id, this.ownerUser);

    let appFlags = 1 << 23; // APPLICATION_COMMAND_BADGE
    if (this.privilegedIntents & Intent.GuildPresences) appFlags |= 1 << 13;
    if (this.privilegedIntents & Intent.GuildMembers) appFlags |= 1 << 15;
    if (this.privilegedIntents & Intent.MessageContent) appFlags |= 1 << 19;
    this.application = {
      id: this.applicationId,
      name: this.botUser.username,
      icon: null,
      description: '',
      summary: '',
      bot_public: false,
      bot_require_code_grant: false,
      verify_key: randomBytes(32).toString('hex'),
      flags: appFlags,
      flags_new: String(appFlags),
      team: null,
      owner: publicUser(this.ownerUser),
      bot: publicUser(this.botUser),
      redirect_uris: [],
      interactions_endpoint_url: null,
      approximate_guild_count: 1,
      integration_types_config: { '0': {} },
    };

    this.guild = {
      name: options.guildName ?? 'Sentinel Test Guild',
      owner_id: this.ownerUser.id,
      created: discordTimestamp(Date.now() - 86_400_000 * 300),
      preferred_locale: 'en-US',
    };

    // @everyone shares the guild's id.
    this.roles.set(this.guildId, this.makeRole(this.guildId, {
      name: '@everyone',
      permissions: toPermissions(options.everyonePermissions, DEFAULT_EVERYONE_PERMISSIONS),
      position: 0,
    }));
    const botRole = this.makeRole(snowflake(), {
      name: this.botUser.username,
      permissions: toPermissions(options.botPermissions, DEFAULT_BOT_PERMISSIONS),
      position: 1,
    });
    botRole.managed = true;
    botRole.tags = { bot_id: this.botUser.id };
    this.roles.set(botRole.id, botRole);

    for (const spec of options.roles ?? [{ name: 'Responder' }, { name: 'Approver' }]) this.createRole(spec);

    const channelSpecs: ChannelSpec[] = options.channels ?? [
      { name: 'sentinel', type: ChannelType.GuildCategory },
      { name: 'general', parent: 'sentinel' },
      { name: 'alerts', parent: 'sentinel' },
    ];
    for (const spec of channelSpecs) this.createChannel(spec);

    this.members.set(this.botUser.id, {
      userId: this.botUser.id,
      roles: [botRole.id],
      nick: null,
      joined_at: discordTimestamp(Date.now() - 86_400_000),
    });
    this.members.set(this.ownerUser.id, {
      userId: this.ownerUser.id,
      roles: [],
      nick: null,
      joined_at: this.guild.created,
    });
    const memberSpecs: MemberSpec[] = options.members ?? [
      { username: 'alice', roles: ['Responder'] },
      { username: 'bob' },
    ];
    for (const spec of memberSpecs) this.createMember(spec);
  }

  // ---- construction ---------------------------------------------------------------------

  private makeRole(id: string, spec: Omit<RoleSpec, 'permissions'> & { permissions: bigint }): APIRole {
    const color = spec.color ?? 0;
    return {
      id,
      name: spec.name,
      color,
      colors: { primary_color: color, secondary_color: null, tertiary_color: null },
      hoist: spec.hoist ?? false,
      icon: null,
      unicode_emoji: null,
      position: spec.position ?? this.roles.size,
      permissions: spec.permissions.toString(),
      managed: false,
      mentionable: spec.mentionable ?? false,
      flags: 0,
    } as unknown as APIRole;
  }

  /** New roles go to position 1, above @everyone and below every other role (as on Discord). */
  createRole(spec: RoleSpec): APIRole {
    const id = spec.id ?? snowflake();
    if (this.roles.has(id)) throw new Error(`fakeDiscord: role ${id} already exists`);
    const position = spec.position ?? 1;
    for (const role of this.roles.values()) {
      if (role.id !== this.guildId && role.position >= position) role.position += 1;
    }
    const role = this.makeRole(id, {
      ...spec,
      position,
      permissions: toPermissions(spec.permissions, 0n),
    });
    this.roles.set(id, role);
    return role;
  }

  /** Highest role position of a member (0 for @everyone only). */
  highestRolePosition(userId: string): number {
    const roles = this.members.get(userId)?.roles ?? [];
    return Math.max(0, ...roles.map((id) => this.roles.get(id)?.position ?? 0));
  }

  /** A channel of the main guild, or of another guild the bot is in (`guildId`). */
  createChannel(spec: ChannelSpec, guildId: string = this.guildId): FakeChannel {
    const id = spec.id ?? snowflake();
    if (this.channels.has(id)) throw new Error(`fakeDiscord: channel ${id} already exists`);
    const type = spec.type ?? ChannelType.GuildText;
    let parentId: string | null = null;
    if (spec.parent !== undefined) {
      const inGuild = (c: FakeChannel | undefined) => (c?.guild_id === guildId ? c : undefined);
      const parent =
        inGuild(this.channels.get(spec.parent)) ??
        [...this.channels.values()].find((c) => c.guild_id === guildId && c.name === spec.parent && c.type === ChannelType.GuildCategory);
      if (!parent) throw new Error(`fakeDiscord: no category ${spec.parent}`);
      parentId = parent.id;
    }
    const position =
      spec.position ?? [...this.channels.values()].filter((c) => c.guild_id === guildId && c.type === type).length;
    const channel: FakeChannel = {
      id,
      type,
      guild_id: guildId,
      name: spec.name,
      position,
      permission_overwrites: [],
      parent_id: parentId,
      nsfw: spec.nsfw ?? false,
      flags: 0,
    };
    if (type === ChannelType.GuildText || type === ChannelType.GuildAnnouncement) {
      channel.topic = spec.topic ?? null;
      channel.last_message_id = null;
      channel.rate_limit_per_user = 0;
    }
    if (type === ChannelType.GuildVoice) {
      Object.assign(channel, { bitrate: 64000, user_limit: 0, rtc_region: null, last_message_id: null, rate_limit_per_user: 0 });
    }
    this.channels.set(id, channel);
    return channel;
  }

  createUser(spec: { username: string; id?: string; globalName?: string | null; bot?: boolean }): APIUser {
    const id = spec.id ?? snowflake();
    const existing = this.users.get(id);
    if (existing) return existing;
    const user = makeUser(id, spec.username, spec.bot ? { bot: true } : {});
    if (spec.globalName !== undefined) user.global_name = spec.globalName;
    this.users.set(id, user);
    return user;
  }

  createMember(spec: MemberSpec): MemberEntry {
    const user = this.createUser(spec);
    if (this.members.has(user.id)) throw new Error(`fakeDiscord: ${user.id} is already a member`);
    const entry: MemberEntry = {
      userId: user.id,
      roles: this.resolveRoleIds(spec.roles ?? []),
      nick: spec.nick ?? null,
      joined_at: discordTimestamp(),
    };
    this.members.set(user.id, entry);
    return entry;
  }

  // ---- lookups ----------------------------------------------------------------------------

  findChannelByName(name: string, type?: number): FakeChannel | undefined {
    for (const channel of this.channels.values()) {
      if (channel.name === name && (type === undefined || channel.type === type)) return channel;
    }
    return undefined;
  }

  findRoleByName(name: string): APIRole | undefined {
    for (const role of this.roles.values()) if (role.name === name) return role;
    return undefined;
  }

  /** Role ids from ids or names; unknown ones throw (Discord never sends roles the guild lacks). */
  resolveRoleIds(idsOrNames: readonly string[]): string[] {
    return idsOrNames.map((value) => {
      if (this.roles.has(value)) return value;
      const byName = this.findRoleByName(value);
      if (byName) return byName.id;
      throw new Error(`fakeDiscord: unknown role ${value}; add it with addRole() first`);
    });
  }

  firstTextChannel(): FakeChannel {
    for (const channel of this.channels.values()) {
      if (channel.guild_id === this.guildId && channel.type === ChannelType.GuildText) return channel;
    }
    throw new Error('fakeDiscord: the guild has no text channel');
  }

  requireGuild(guildId: string): void {
    if (guildId !== this.guildId) throw errors.unknownGuild();
  }

  requireChannel(channelId: string): FakeChannel {
    const channel = this.channels.get(channelId);
    if (!channel) throw errors.unknownChannel();
    return channel;
  }

  requireUser(userId: string): APIUser {
    const user = this.users.get(userId);
    if (!user) throw errors.unknownUser();
    return user;
  }

  requireMember(userId: string): MemberEntry {
    const member = this.members.get(userId);
    if (!member) throw errors.unknownMember();
    return member;
  }

  requireRole(roleId: string): APIRole {
    const role = this.roles.get(roleId);
    if (!role) throw errors.unknownRole();
    return role;
  }

  /** A message visible in a channel (ephemeral messages are not). */
  requireChannelMessage(channelId: string, messageId: string): APIMessage {
    const message = this.messages.get(messageId);
    if (!message || message.channel_id !== channelId || isEphemeral(message)) throw errors.unknownMessage();
    return message;
  }

  // ---- payloads ---------------------------------------------------------------------------

  memberPayload(userId: string, roleOverride?: string[]): APIGuildMember {
    const entry = this.requireMember(userId);
    const user = this.requireUser(userId);
    return {
      user: publicUser(user),
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

  /** Guild-level permissions of a member (owner and administrators get everything). */
  permissionsOf(userId: string, roleOverride?: string[]): bigint {
    if (userId === this.guild.owner_id) return ALL_PERMISSIONS;
    const roles = roleOverride ?? this.members.get(userId)?.roles ?? [];
    let perms = BigInt(this.roles.get(this.guildId)?.permissions ?? '0');
    for (const id of roles) perms |= BigInt(this.roles.get(id)?.permissions ?? '0');
    return perms & Permission.Administrator ? ALL_PERMISSIONS : perms;
  }

  guildChannels(): FakeChannel[] {
    return [...this.channels.values()].filter((c) => c.guild_id === this.guildId && !THREAD_TYPES.has(c.type));
  }

  activeThreads(): FakeChannel[] {
    return [...this.channels.values()].filter(
      (c) => c.guild_id === this.guildId && THREAD_TYPES.has(c.type) && !c.thread_metadata?.archived,
    );
  }

  /** GET /guilds/:id shape. */
  guildPayload(withCounts = false): Record<string, unknown> {
    const payload: Record<string, unknown> = {
      id: this.guildId,
      name: this.guild.name,
      icon: null,
      icon_hash: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: this.guild.owner_id,
      region: 'deprecated',
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      widget_channel_id: null,
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
      max_presences: null,
      max_members: 25_000_000,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: this.guild.preferred_locale,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      nsfw_level: 0,
      nsfw: false,
      hub_type: null,
      premium_progress_bar_enabled: false,
      incidents_data: null,
      inventory_settings: null,
      latest_onboarding_question_id: null,
      roles: [...this.roles.values()],
      emojis: [],
      stickers: [],
    };
    if (withCounts) {
      payload.approximate_member_count = this.members.size;
      payload.approximate_presence_count = 0;
    }
    return payload;
  }

  /** GUILD_CREATE payload as sent to a session with the given intents. */
  guildCreatePayload(intents: number): Record<string, unknown> {
    const memberIds =
      intents & Intent.GuildMembers ? [...this.members.keys()] : [this.botUser.id];
    return {
      ...this.guildPayload(),
      joined_at: this.members.get(this.botUser.id)?.joined_at ?? this.guild.created,
      large: this.members.size > 50,
      unavailable: false,
      lazy: true,
      member_count: this.members.size,
      voice_states: [],
      members: memberIds.map((id) => this.memberPayload(id)),
      channels: this.guildChannels().map((c) => channelWithoutGuildId(c)),
      threads: this.activeThreads(),
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

/** GUILD_CREATE lists channels without guild_id, as Discord does. */
function channelWithoutGuildId(channel: FakeChannel): Omit<FakeChannel, 'guild_id'> {
  const { guild_id: _guildId, ...rest } = channel;
  return rest;
}

export function isEphemeral(message: APIMessage): boolean {
  return ((message.flags ?? 0) & 64) !== 0;
}
