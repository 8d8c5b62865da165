/** startFakeDiscord(): HTTP (REST under /api) and WebSocket (gateway under /gateway) on 127.0.0.1. */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeContext } from './context.js';
import { ChannelLimits } from './channelLimits.js';
import { ApiError } from './errors.js';
import { FakeEvents } from './events.js';
import { FaultInjector } from './faults.js';
import { FakeGateway, type GatewaySession } from './gateway.js';
import { Router, decodePath, parseBody, rateLimitHeaders, readBody, send } from './http.js';
import { InteractionRegistry } from './interactions.js';
import { createMessage } from './messages.js';
import { OtherGuild } from './otherGuilds.js';
import { CallRecorder } from './recorder.js';
import { registerRoutes } from './rest/index.js';
import { FakeDiscordState, Intent, isEphemeral } from './state.js';
import type {
  APIApplicationCommand,
  APIGuildMember,
  APIMessage,
  APIRole,
  APIUser,
  CallFilter,
  ChannelSpec,
  ClickButtonInput,
  FakeChannel,
  FakeDiscordOptions,
  FakeGuild,
  GatewayFrame,
  GuildSpec,
  InjectedFault,
  InteractionHandle,
  MemberSpec,
  ModalSubmitInput,
  RateLimitInjection,
  RecordedCall,
  RoleSpec,
  SelectMenuInput,
  ServerErrorInjection,
  SlashCommandInput,
} from './types.js';

export interface FakeGatewayControls {
  /** ws:// URL handed out by GET /gateway/bot. */
  readonly url: string;
  /** Every frame sent (`out`) and received (`in`), in order. */
  readonly frames: readonly GatewayFrame[];
  /** IDENTIFY payloads accepted so far. */
  readonly identifies: readonly Record<string, unknown>[];
  /** Number of sessions with a live connection. */
  readonly connectedSessions: number;
  /** Dispatch an arbitrary event to sessions whose intents include `intent` (none: to all). */
  dispatch(t: string, d: unknown, intent?: number): void;
  /** op 7 RECONNECT: the client should reconnect to resume_gateway_url and RESUME. */
  requestReconnect(): void;
  /** op 9 INVALID_SESSION (d = resumable). */
  invalidateSessions(resumable?: boolean): void;
  /** Close every connection with this close code (default 4000, resumable). */
  disconnect(code?: number): void;
  waitForFrame(predicate: (frame: GatewayFrame) => boolean, timeoutMs?: number): Promise<GatewayFrame>;
}

export interface FakeDiscord {
  /** REST base for discord.js: `new Client({ intents, rest: { api: fake.apiUrl } })` (discord.js appends `/v10`). */
  readonly apiUrl: string;
  readonly port: number;
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  readonly botUser: APIUser;
  /** The whole in-memory world (maps of users, roles, channels, members, messages, commands). */
  readonly state: FakeDiscordState;
  readonly gateway: FakeGatewayControls;

  /** Channel by id or name. Throws if absent. */
  channel(idOrName: string): FakeChannel;
  /** Role by id or name. Throws if absent. */
  role(idOrName: string): APIRole;
  /** Member by user id or username. Throws if absent. */
  member(idOrUsername: string): APIGuildMember;
  /** Non-ephemeral and ephemeral messages the fake holds, oldest first (optionally one channel's). */
  messages(channelId?: string): APIMessage[];
  message(id: string): APIMessage | undefined;
  /**
   * Resolves with the first stored message matching `predicate` (checked now and after every REST
   * call), e.g. the alert the bot posts; rejects after `timeoutMs` (default 2000).
   */
  waitForMessage(predicate: (message: APIMessage) => boolean, timeoutMs?: number): Promise<APIMessage>;
  /** Registered commands: guild and global (or one scope). */
  commands(scope?: 'guild' | 'global'): APIApplicationCommand[];

  addRole(spec: RoleSpec): APIRole;
  addChannel(spec: ChannelSpec): FakeChannel;
  /**
   * The bot is added to another guild (someone else's server): its channels, roles and members
   * exist from now on, and connected sessions with the GUILDS intent get its GUILD_CREATE, as from
   * Discord when a bot joins a guild. Interactions from its channels carry its guild_id.
   */
  addGuild(spec?: GuildSpec): FakeGuild;
  addMember(spec: MemberSpec): APIGuildMember;
  setMemberRoles(userId: string, roles: string[]): APIGuildMember;
  removeMember(userId: string): void;
  /** A human member posts a message (MESSAGE_CREATE for sessions with GUILD_MESSAGES). */
  postUserMessage(input: { userId: string; channelId: string; content?: string; embeds?: unknown[] }): APIMessage;

  /** Recorded REST calls, oldest first. */
  calls(filter?: CallFilter): RecordedCall[];
  lastCall(filter?: CallFilter): RecordedCall | undefined;
  /**
   * First call matching `filter` with seq > `after` (default: any, including past calls);
   * rejects after `timeoutMs` (default 2000).
   */
  waitForCall(filter?: CallFilter, timeoutMs?: number, after?: number): Promise<RecordedCall>;
  /** Seq of the latest recorded call; use as `after` to wait for newer calls only. */
  readonly lastSeq: number;
  clearCalls(): void;

  /**
   * Per-channel limits on message writes (create, edit, delete, thread from a message): at most
   * `limit` in any `windowMs` per channel, else 429 (not `injected`); undefined turns them off.
   */
  setChannelRateLimit(limit: { limit: number; windowMs: number } | undefined): void;
  injectRateLimit(options?: RateLimitInjection): InjectedFault;
  injectServerError(options?: ServerErrorInjection): InjectedFault;
  clearInjections(): void;

  clickButton(input: ClickButtonInput): InteractionHandle;
  selectMenu(input: SelectMenuInput): InteractionHandle;
  runSlashCommand(input: SlashCommandInput): InteractionHandle;
  submitModal(input: ModalSubmitInput): InteractionHandle;
  /** Every interaction dispatched so far. */
  interactions(): InteractionHandle[];

  close(): Promise<void>;
}

export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const log = options.log ?? (() => undefined);
  const state = new FakeDiscordState(options);
  const router = new Router();
  const recorder = new CallRecorder();
  const faults = new FaultInjector();
  const channelLimits = new ChannelLimits(options.channelRateLimit);
  let port = 0;
  const gateway = new FakeGateway({
    state,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
    baseUrl: () => `ws://127.0.0.1:${port}`,
    log,
  });
  const events = new FakeEvents(state, gateway);
  const interactions = new InteractionRegistry(
    state,
    {
      responseTimeoutMs: options.interactionResponseTimeoutMs ?? 3000,
      tokenTtlMs: options.interactionTokenTtlMs ?? 15 * 60_000,
    },
    (payload) => gateway.dispatch('INTERACTION_CREATE', payload),
  );
  const ctx: FakeContext = { state, gateway, events, interactions, router };
  registerRoutes(ctx);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const prefix = /^\/api(?:\/v(\d+))?(\/.*)?$/.exec(url.pathname);
    const version = prefix?.[1] !== undefined ? Number(prefix[1]) : null;
    const rawPath = (prefix?.[2] ?? url.pathname).replace(/(.)\/+$/, '$1');
    const path = decodePath(rawPath);
    const query = Object.fromEntries(url.searchParams);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers[key] = value;
      else if (Array.isArray(value)) headers[key] = value.join(', ');
    }
    const raw = await readBody(req);

    let status = 500;
    let responseBody: unknown;
    let responseHeaders: Record<string, string> = {};
    let injected: RecordedCall['injected'];
    let body: unknown;
    let files: RecordedCall['files'] = [];
    let route: string | null = null;

    try {
      const match = prefix ? router.match(method, rawPath) : { kind: 'none' as const };
      route = match.kind === 'found' ? match.route.template : match.kind === 'method' ? match.template : null;
      let parseError: unknown;
      try {
        ({ body, files } = await parseBody(raw, req.headers['content-type']));
      } catch (error) {
        parseError = error;
      }
      const fault = faults.take(method, path, route);
      if (fault) {
        injected = fault.kind;
        status = fault.status;
        responseBody = fault.body;
        responseHeaders = fault.headers;
      } else {
        if (parseError) throw parseError;
        if (!prefix || match.kind === 'none') throw new ApiError(404, { message: '404: Not Found', code: 0 });
        if (match.kind === 'method') throw new ApiError(405, { message: '405: Method Not Allowed', code: 0 });
        if (version !== null && (version < 9 || version > 10)) {
          throw new ApiError(400, { message: 'Invalid API version provided', code: 50041 });
        }
        if (match.route.auth === 'bot' && headers.authorization !== `Bot ${state.token}`) {
          throw new ApiError(401, { message: '401: Unauthorized', code: 0 });
        }
        const limited = channelLimits.take(method, match.route.template, match.params.channel_id);
        if (limited && 'refused' in limited) {
          status = limited.refused.status;
          responseBody = limited.refused.body;
          responseHeaders = limited.refused.headers;
        } else {
          const result = await match.route.handler({ method, path, params: match.params, query, body, files, headers });
          status = result.status;
          responseBody = result.body;
          responseHeaders = { ...rateLimitHeaders(method, match.route.template), ...(limited?.headers ?? {}), ...(result.headers ?? {}) };
        }
      }
    } catch (error) {
      if (error instanceof ApiError) {
        status = error.status;
        responseBody = error.body;
        responseHeaders = { ...(route ? rateLimitHeaders(method, route) : {}), ...error.headers };
      } else {
        log(`rest: ${method} ${path} crashed: ${(error as Error).stack ?? String(error)}`);
        status = 500;
        responseBody = { message: '500: Internal Server Error', code: 0 };
      }
    }

    const snapshot = responseBody === undefined ? undefined : (JSON.parse(JSON.stringify(responseBody)) as unknown);
    send(res, status, status === 204 ? undefined : snapshot, responseHeaders);
    log(`rest: ${method} ${url.pathname}${url.search} → ${status}`);
    const call: Omit<RecordedCall, 'seq'> = {
      method,
      path,
      route,
      version,
      query,
      body,
      files,
      headers,
      status,
      response: status === 204 ? undefined : snapshot,
      at,
      durationMs: Date.now() - at,
    };
    recorder.record(injected ? { ...call, injected } : call);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`rest: unhandled ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) send(res, 500, { message: '500: Internal Server Error', code: 0 });
    });
  });
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  log(`fake discord listening on 127.0.0.1:${port}`);

  const requireSession = (): void => {
    if (gateway.sessions.size === 0) {
      throw new Error('fakeDiscord: no gateway session to deliver the interaction to (is the client logged in and ready?)');
    }
  };

  const findMember = (idOrUsername: string): string => {
    if (state.members.has(idOrUsername)) return idOrUsername;
    for (const id of state.members.keys()) if (state.users.get(id)?.username === idOrUsername) return id;
    throw new Error(`fakeDiscord: no member ${idOrUsername}`);
  };

  let closed = false;

  const fake: FakeDiscord = {
    apiUrl: `http://127.0.0.1:${port}/api`,
    port,
    token: state.token,
    applicationId: state.applicationId,
    guildId: state.guildId,
    botUser: state.botUser,
    state,
    gateway: {
      get url() {
        return gateway.url;
      },
      get frames() {
        return gateway.frames;
      },
      get identifies() {
        return gateway.identifies;
      },
      get connectedSessions() {
        return gateway.connectedSessions.length;
      },
      dispatch: (t, d, intent) => gateway.dispatch(t, d, intent),
      requestReconnect: () => gateway.requestReconnect(),
      invalidateSessions: (resumable) => gateway.invalidateSessions(resumable),
      disconnect: (code) => gateway.disconnect(code),
      waitForFrame: (predicate, timeoutMs) => gateway.waitForFrame(predicate, timeoutMs),
    },

    channel(idOrName) {
      const channel = state.channels.get(idOrName) ?? state.findChannelByName(idOrName);
      if (!channel) throw new Error(`fakeDiscord: no channel ${idOrName}`);
      return channel;
    },
    role(idOrName) {
      const role = state.roles.get(idOrName) ?? state.findRoleByName(idOrName);
      if (!role) throw new Error(`fakeDiscord: no role ${idOrName}`);
      return role;
    },
    member(idOrUsername) {
      return state.memberPayload(findMember(idOrUsername));
    },
    messages(channelId) {
      return [...state.messages.values()]
        .filter((m) => channelId === undefined || m.channel_id === channelId)
        .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    },
    message(id) {
      return state.messages.get(id);
    },
    async waitForMessage(predicate, timeoutMs = 2000) {
      const find = (): APIMessage | undefined => fake.messages().find(predicate);
      const now = find();
      if (now) return now;
      try {
        await recorder.waitForCall(() => find() !== undefined, timeoutMs, recorder.lastSeq);
      } catch {
        throw new Error(`fakeDiscord: no matching message within ${timeoutMs} ms`);
      }
      const found = find();
      if (!found) throw new Error('fakeDiscord: matching message vanished');
      return found;
    },
    commands(scope) {
      const guild = scope === 'global' ? [] : [...state.guildCommands.values()];
      const global = scope === 'guild' ? [] : [...state.globalCommands.values()];
      return [...guild, ...global];
    },

    addRole(spec) {
      const role = state.createRole(spec);
      events.roleCreate(role);
      return role;
    },
    addChannel(spec) {
      const channel = state.createChannel(spec);
      events.channelCreate(channel);
      return channel;
    },
    addGuild(spec = {}) {
      const guild = new OtherGuild(state, spec);
      state.otherGuilds.set(guild.id, guild);
      state.application.approximate_guild_count = 1 + state.otherGuilds.size;
      gateway.dispatch('GUILD_CREATE', (session: GatewaySession) => guild.guildCreatePayload(session.intents), Intent.Guilds);
      return {
        id: guild.id,
        name: guild.name,
        channel: (name) => guild.channel(name),
        role(idOrName) {
          const found = guild.roles.get(idOrName) ?? [...guild.roles.values()].find((r) => r.name === idOrName);
          if (!found) throw new Error(`fakeDiscord: guild ${guild.name} has no role ${idOrName}`);
          return found;
        },
        commands: () => [...guild.commands.values()],
      };
    },
    addMember(spec) {
      const entry = state.createMember(spec);
      events.memberAdd(entry.userId);
      return state.memberPayload(entry.userId);
    },
    setMemberRoles(userId, roles) {
      const member = state.requireMember(findMember(userId));
      member.roles = state.resolveRoleIds(roles);
      events.memberUpdate(member.userId);
      return state.memberPayload(member.userId);
    },
    removeMember(userId) {
      const id = findMember(userId);
      state.members.delete(id);
      events.memberRemove(id, state.users.get(id));
    },
    postUserMessage(input) {
      const author = state.requireUser(input.userId);
      const channel = state.requireChannel(input.channelId);
      const body: Record<string, unknown> = { content: input.content ?? '' };
      if (input.embeds) body.embeds = input.embeds;
      const message = createMessage(state, { channel, author, body });
      if (!isEphemeral(message)) events.messageCreate(message);
      return message;
    },

    calls: (filter) => recorder.calls(filter),
    lastCall: (filter) => recorder.calls(filter).at(-1),
    waitForCall: (filter, timeoutMs, after) => recorder.waitForCall(filter, timeoutMs, after),
    get lastSeq() {
      return recorder.lastSeq;
    },
    clearCalls: () => recorder.clear(),

    setChannelRateLimit: (limit) => channelLimits.set(limit),
    injectRateLimit: (opts = {}) => faults.rateLimit(opts),
    injectServerError: (opts = {}) => faults.serverError(opts),
    clearInjections: () => faults.clear(),

    clickButton(input) {
      requireSession();
      return interactions.clickButton(input);
    },
    selectMenu(input) {
      requireSession();
      return interactions.selectMenu(input);
    },
    runSlashCommand(input) {
      requireSession();
      return interactions.runSlashCommand(input);
    },
    submitModal(input) {
      requireSession();
      return interactions.submitModal(input);
    },
    interactions: () => interactions.all(),

    async close() {
      if (closed) return;
      closed = true;
      interactions.close();
      gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
