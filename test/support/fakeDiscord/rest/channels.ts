/** Channels, messages, threads, reactions, typing. */
import { type FakeContext, type Json, asObject, param } from '../context.js';
import { ApiError, ErrorCollector, errors } from '../errors.js';
import { LIMITS, MessageFlag, charLength } from '../limits.js';
import { createMessage, editMessage } from '../messages.js';
import { discordTimestamp, snowflake } from '../snowflake.js';
import { ChannelType, TEXT_CHANNEL_TYPES, THREAD_TYPES, isEphemeral } from '../state.js';
import type { APIMessage, FakeChannel } from '../types.js';

const AUTO_ARCHIVE_DURATIONS: ReadonlySet<number> = new Set([60, 1440, 4320, 10080]);

function validateThreadBody(body: Json): void {
  const c = new ErrorCollector();
  if (typeof body.name !== 'string' || body.name.length === 0) c.required(['name']);
  else if (charLength(body.name) > LIMITS.threadName) c.badLength(['name'], 1, LIMITS.threadName);
  if (body.auto_archive_duration !== undefined && body.auto_archive_duration !== null) {
    if (typeof body.auto_archive_duration !== 'number' || !AUTO_ARCHIVE_DURATIONS.has(body.auto_archive_duration)) {
      c.add(['auto_archive_duration'], 'BASE_TYPE_CHOICES', 'Value must be one of {60, 1440, 4320, 10080}.');
    }
  }
  c.throwIfAny();
}

export function registerChannelRoutes(ctx: FakeContext): void {
  const { router, state, events } = ctx;

  const textChannel = (id: string): FakeChannel => {
    const channel = state.requireChannel(id);
    if (!TEXT_CHANNEL_TYPES.has(channel.type)) throw errors.nonTextChannel();
    return channel;
  };

  const makeThread = (parent: FakeChannel, id: string, body: Json, type: number): FakeChannel => {
    const now = discordTimestamp();
    const duration = typeof body.auto_archive_duration === 'number' ? body.auto_archive_duration : 4320;
    const thread: FakeChannel = {
      id,
      type,
      guild_id: parent.guild_id,
      name: String(body.name),
      parent_id: parent.id,
      owner_id: state.botUser.id,
      last_message_id: null,
      rate_limit_per_user: typeof body.rate_limit_per_user === 'number' ? body.rate_limit_per_user : 0,
      flags: 0,
      member_count: 1,
      message_count: 0,
      total_message_sent: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: duration,
        archive_timestamp: now,
        locked: false,
        create_timestamp: now,
        ...(type === ChannelType.PrivateThread ? { invitable: body.invitable !== false } : {}),
      },
    };
    state.channels.set(id, thread);
    events.threadCreate(thread);
    return thread;
  };

  router.add('GET', '/channels/:channel_id', ({ params }) => ({
    status: 200,
    body: state.requireChannel(param(params, 'channel_id')),
  }));

  router.add('GET', '/channels/:channel_id/messages', ({ params, query }) => {
    const channel = textChannel(param(params, 'channel_id'));
    const limit = Math.min(100, Math.max(1, Number(query.limit ?? 50) || 50));
    let list = [...state.messages.values()]
      .filter((m) => m.channel_id === channel.id && !isEphemeral(m))
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    if (query.before) list = list.filter((m) => BigInt(m.id) < BigInt(query.before ?? '0'));
    if (query.after) list = list.filter((m) => BigInt(m.id) > BigInt(query.after ?? '0')).slice(-limit);
    if (query.around) {
      const around = BigInt(query.around);
      const index = list.findIndex((m) => BigInt(m.id) <= around);
      const start = Math.max(0, (index < 0 ? list.length : index) - Math.floor(limit / 2));
      list = list.slice(start, start + limit);
    }
    return { status: 200, body: list.slice(0, limit) };
  });

  router.add('GET', '/channels/:channel_id/messages/:message_id', ({ params }) => ({
    status: 200,
    body: state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id')),
  }));

  // enforce_nonce: a create whose nonce this author used in the channel in the last few minutes
  // returns that message and creates nothing (Discord: "checked for uniqueness in the past few minutes").
  const NONCE_TTL_MS = 5 * 60_000;
  const nonces = new Map<string, { messageId: string; at: number }>();

  router.add('POST', '/channels/:channel_id/messages', ({ params, body, files }) => {
    const channel = textChannel(param(params, 'channel_id'));
    if (channel.thread_metadata?.archived) throw errors.threadArchived();
    const payload = asObject(body);
    const nonce = typeof payload.nonce === 'string' || typeof payload.nonce === 'number' ? String(payload.nonce) : undefined;
    const nonceKey = payload.enforce_nonce === true && nonce !== undefined ? `${channel.id}\n${state.botUser.id}\n${nonce}` : undefined;
    if (nonceKey) {
      const seen = nonces.get(nonceKey);
      const earlier = seen && Date.now() - seen.at < NONCE_TTL_MS ? state.messages.get(seen.messageId) : undefined;
      if (earlier) return { status: 200, body: earlier };
    }
    const message = createMessage(state, { channel, author: state.botUser, body: payload, files });
    if (nonceKey) nonces.set(nonceKey, { messageId: message.id, at: Date.now() });
    events.messageCreate(message);
    return { status: 200, body: message };
  });

  router.add('PATCH', '/channels/:channel_id/messages/:message_id', ({ params, body, files }) => {
    const message = state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id'));
    const payload = asObject(body);
    if (message.author.id !== state.botUser.id) {
      // Others' messages: only the SUPPRESS_EMBEDS flag may change (needs MANAGE_MESSAGES).
      const onlyFlags = Object.keys(payload).every((k) => k === 'flags');
      if (!onlyFlags) throw errors.cannotEditOthers();
    }
    const edited = editMessage(state, message, payload, { files });
    events.messageUpdate(edited);
    return { status: 200, body: edited };
  });

  router.add('DELETE', '/channels/:channel_id/messages/:message_id', ({ params }) => {
    const message = state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id'));
    state.messages.delete(message.id);
    events.messageDelete(message);
    return { status: 204 };
  });

  // Start a thread from a message: the thread's id is the message's id.
  router.add('POST', '/channels/:channel_id/messages/:message_id/threads', ({ params, body }) => {
    const channel = state.requireChannel(param(params, 'channel_id'));
    const message = state.requireChannelMessage(channel.id, param(params, 'message_id'));
    const payload = asObject(body);
    validateThreadBody(payload);
    if (channel.type !== ChannelType.GuildText && channel.type !== ChannelType.GuildAnnouncement) {
      throw new ApiError(400, { message: 'Cannot execute action on this channel type', code: 50024 });
    }
    if (state.channels.has(message.id) || message.thread) throw errors.threadAlreadyCreated();
    const type = channel.type === ChannelType.GuildAnnouncement ? ChannelType.AnnouncementThread : ChannelType.PublicThread;
    const thread = makeThread(channel, message.id, payload, type);
    const updated = {
      ...message,
      flags: (message.flags ?? 0) | MessageFlag.HasThread,
      thread,
    } as unknown as APIMessage;
    state.messages.set(message.id, updated);
    return { status: 201, body: thread };
  });

  // Start a thread without a message (private by default, as on Discord).
  router.add('POST', '/channels/:channel_id/threads', ({ params, body }) => {
    const channel = state.requireChannel(param(params, 'channel_id'));
    const payload = asObject(body);
    validateThreadBody(payload);
    if (channel.type !== ChannelType.GuildText && channel.type !== ChannelType.GuildAnnouncement) {
      throw new ApiError(400, { message: 'Cannot execute action on this channel type', code: 50024 });
    }
    const type = typeof payload.type === 'number' ? payload.type : ChannelType.PrivateThread;
    if (!THREAD_TYPES.has(type)) {
      const c = new ErrorCollector();
      c.add(['type'], 'BASE_TYPE_CHOICES', 'Value must be one of {10, 11, 12}.');
      c.throwIfAny();
    }
    const thread = makeThread(channel, snowflake(), payload, type);
    return { status: 201, body: thread };
  });

  router.add('PUT', '/channels/:channel_id/thread-members/@me', ({ params }) => {
    const thread = state.requireChannel(param(params, 'channel_id'));
    if (!THREAD_TYPES.has(thread.type)) throw errors.unknownChannel();
    return { status: 204 };
  });

  router.add('GET', '/channels/:channel_id/thread-members', ({ params }) => {
    const thread = state.requireChannel(param(params, 'channel_id'));
    if (!THREAD_TYPES.has(thread.type)) throw errors.unknownChannel();
    return {
      status: 200,
      body: [{ id: thread.id, user_id: state.botUser.id, join_timestamp: thread.thread_metadata?.create_timestamp, flags: 1 }],
    };
  });

  router.add('POST', '/channels/:channel_id/typing', ({ params }) => {
    textChannel(param(params, 'channel_id'));
    return { status: 204 };
  });

  // Reactions by the bot.
  const emojiKey = (raw: string): { key: string; emoji: Json } => {
    // The fake guild has no custom emojis, so `name:id` is always unknown; unicode emoji are not
    // plain ASCII words (Discord rejects `thumbsup` and the like).
    if (raw.length === 0 || /^[\x20-\x7e]+$/.test(raw)) throw errors.unknownEmoji();
    return { key: raw, emoji: { id: null, name: raw } };
  };

  const refreshReactions = (message: APIMessage): void => {
    const byEmoji = state.reactions.get(message.id);
    const list = byEmoji
      ? [...byEmoji.entries()]
          .filter(([, users]) => users.size > 0)
          .map(([key, users]) => {
            return {
              emoji: { id: null, name: key },
              count: users.size,
              count_details: { burst: 0, normal: users.size },
              burst_colors: [],
              me: users.has(state.botUser.id),
              me_burst: false,
              burst_me: false,
              burst_count: 0,
            };
          })
      : [];
    const next = { ...message } as Json;
    if (list.length) next.reactions = list;
    else delete next.reactions;
    state.messages.set(message.id, next as unknown as APIMessage);
  };

  router.add('PUT', '/channels/:channel_id/messages/:message_id/reactions/:emoji/@me', ({ params }) => {
    const message = state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id'));
    const { key, emoji } = emojiKey(param(params, 'emoji'));
    const byEmoji = state.reactions.get(message.id) ?? new Map<string, Set<string>>();
    state.reactions.set(message.id, byEmoji);
    const users = byEmoji.get(key) ?? new Set<string>();
    byEmoji.set(key, users);
    if (!users.has(state.botUser.id)) {
      users.add(state.botUser.id);
      refreshReactions(message);
      events.reactionAdd(message, state.botUser.id, emoji);
    }
    return { status: 204 };
  });

  router.add('DELETE', '/channels/:channel_id/messages/:message_id/reactions/:emoji/@me', ({ params }) => {
    const message = state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id'));
    const { key } = emojiKey(param(params, 'emoji'));
    state.reactions.get(message.id)?.get(key)?.delete(state.botUser.id);
    refreshReactions(message);
    return { status: 204 };
  });

  router.add('GET', '/channels/:channel_id/messages/:message_id/reactions/:emoji', ({ params }) => {
    const message = state.requireChannelMessage(param(params, 'channel_id'), param(params, 'message_id'));
    const { key } = emojiKey(param(params, 'emoji'));
    const users = [...(state.reactions.get(message.id)?.get(key) ?? [])].map((id) => state.requireUser(id));
    return { status: 200, body: users };
  });
}
