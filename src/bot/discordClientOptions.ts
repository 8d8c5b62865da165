import { Options, type ClientOptions } from 'discord.js';

/** Members and users kept besides the bot's own: recent clickers (their roles come with each interaction anyway). */
const RECENT_PEOPLE = 100;

/**
 * discord.js caches limited to what sentinel uses. It posts, edits and fetches messages by id
 * through REST, reads a clicker's roles from the interaction (resolved against the guild's
 * roles, which stay cached), resolves the incident channel and its threads, and needs its own
 * member and user. Everything else (emojis, stickers, presences, voice, invites, bans, reactions,
 * scheduled events, messages…) is not kept, so a large server costs the bot no memory.
 * Guilds, channels, roles and permission overwrites cannot be limited (discord.js needs them);
 * archived threads are swept after 4 hours, as by default.
 */
export function discordCacheOptions(): Pick<ClientOptions, 'makeCache' | 'sweepers'> {
  return {
    makeCache: Options.cacheWithLimits({
      ApplicationCommandManager: 0,
      ApplicationEmojiManager: 0,
      AutoModerationRuleManager: 0,
      BaseGuildEmojiManager: 0,
      EntitlementManager: 0,
      GuildBanManager: 0,
      GuildEmojiManager: 0,
      GuildInviteManager: 0,
      GuildScheduledEventManager: 0,
      GuildStickerManager: 0,
      MessageManager: 0,
      PresenceManager: 0,
      ReactionManager: 0,
      ReactionUserManager: 0,
      StageInstanceManager: 0,
      ThreadMemberManager: 0,
      VoiceStateManager: 0,
      GuildMemberManager: { maxSize: RECENT_PEOPLE, keepOverLimit: (member) => member.id === member.client.user.id },
      UserManager: { maxSize: RECENT_PEOPLE, keepOverLimit: (user) => user.id === user.client.user.id },
    }),
    sweepers: {
      ...Options.DefaultSweeperSettings,
      threads: { interval: 3600, lifetime: 4 * 3600 },
    },
  };
}
