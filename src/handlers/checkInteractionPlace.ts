/** Where an interaction was sent from, as Discord reports it. */
export interface InteractionPlace {
  /** null: not from a server (a direct message, or a user-installed app outside any guild). */
  guildId: string | null;
  channelId: string | null;
  /**
   * For a thread, its parent channel; null when the channel could not be resolved (it cannot be
   * shown to belong to the incident channel); undefined for a channel that is not a thread.
   */
  threadParentId?: string | null;
}

/** The one place sentinel takes buttons and slash commands from: DISCORD_GUILD_ID and DISCORD_CHANNEL_ID. */
export interface AllowedPlace {
  guildId: string;
  channelId: string;
}

export type PlaceRefusal = 'direct-message' | 'other-guild' | 'other-channel' | 'thread-outside-channel' | 'unknown-channel';

export type PlaceCheck = { allowed: true } | { allowed: false; code: PlaceRefusal; reason: string };

/**
 * Whether an interaction comes from sentinel's incident channel (or a thread under it) in its own
 * server. Anything else (a direct message, another server the bot was added to, another channel)
 * is refused. Pure: the caller resolves the thread's parent.
 */
export function checkInteractionPlace(place: InteractionPlace, allowed: AllowedPlace): PlaceCheck {
  if (place.guildId === null) return { allowed: false, code: 'direct-message', reason: 'it was sent outside any server (a direct message)' };
  if (place.guildId !== allowed.guildId) return { allowed: false, code: 'other-guild', reason: 'it was sent from another server' };
  if (place.channelId !== null && place.channelId === allowed.channelId) return { allowed: true };
  if (place.threadParentId === undefined) return { allowed: false, code: 'other-channel', reason: 'it was sent from another channel than the incident channel' };
  if (place.threadParentId === null) return { allowed: false, code: 'unknown-channel', reason: 'its channel could not be resolved' };
  if (place.threadParentId === allowed.channelId) return { allowed: true };
  return { allowed: false, code: 'thread-outside-channel', reason: 'it was sent from a thread outside the incident channel' };
}
