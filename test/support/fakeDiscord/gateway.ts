/**
 * The Gateway: JSON encoding, optional zlib-stream transport compression or IDENTIFY `compress`,
 * HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats, RESUME with replay, REQUEST_GUILD_MEMBERS,
 * and intent-filtered dispatches.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { WebSocket, WebSocketServer } from 'ws';
import { ALL_INTENTS, type FakeDiscordState, Intent } from './state.js';
import type { GatewayFrame } from './types.js';

export const GatewayOp = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
  RequestSoundboardSounds: 31,
} as const;

export const GatewayClose = {
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidSeq: 4007,
  RateLimited: 4008,
  SessionTimedOut: 4009,
  InvalidShard: 4010,
  ShardingRequired: 4011,
  InvalidAPIVersion: 4012,
  InvalidIntents: 4013,
  DisallowedIntents: 4014,
} as const;

const CLOSE_REASON: Record<number, string> = {
  4000: 'Unknown error.',
  4001: 'Unknown opcode.',
  4002: 'Error while decoding payload.',
  4003: 'Not authenticated.',
  4004: 'Authentication failed.',
  4005: 'Already authenticated.',
  4007: 'Invalid seq.',
  4009: 'Session timed out.',
  4010: 'Invalid shard.',
  4012: 'Invalid API version.',
  4013: 'Invalid intent(s).',
  4014: 'Disallowed intent(s).',
};

/** Opcodes a client may send. */
const CLIENT_OPS: ReadonlySet<number> = new Set([1, 2, 3, 4, 6, 8, 31]);
const MAX_PAYLOAD_BYTES = 4096;
const REPLAY_BUFFER = 1000;
const SYNC_FLUSH_SUFFIX = Buffer.from([0x00, 0x00, 0xff, 0xff]);

interface Payload {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

type Json = Record<string, unknown>;

function trace(): string[] {
  return [JSON.stringify(['gateway-fake-0', { micros: 0 }])];
}

/** zlib-stream: one deflate context per connection, each payload ends with a Z_SYNC_FLUSH. */
class StreamCompressor {
  private readonly deflate = zlib.createDeflate({ chunkSize: 65_536 });
  private pending: Buffer[] = [];
  private waiting: (() => void) | null = null;

  constructor() {
    this.deflate.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      this.waiting?.();
    });
  }

  private complete(): boolean {
    const last = this.pending[this.pending.length - 1];
    if (!last) return false;
    const all = this.pending.length === 1 ? last : Buffer.concat(this.pending);
    return all.length >= 4 && all.subarray(all.length - 4).equals(SYNC_FLUSH_SUFFIX);
  }

  compress(text: string): Promise<Buffer> {
    return new Promise((resolve) => {
      const finish = (): void => {
        if (!this.complete()) return;
        this.waiting = null;
        const out = Buffer.concat(this.pending);
        this.pending = [];
        resolve(out);
      };
      this.deflate.write(text);
      this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.waiting = finish;
        finish();
      });
    });
  }

  close(): void {
    this.deflate.destroy();
  }
}

class Connection {
  session: GatewaySession | null = null;
  identifyCompress = false;
  closed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly compressor: StreamCompressor | null;

  constructor(
    readonly ws: WebSocket,
    readonly path: string,
    readonly query: URLSearchParams,
    private readonly gateway: FakeGateway,
  ) {
    this.compressor = query.get('compress') === 'zlib-stream' ? new StreamCompressor() : null;
  }

  send(payload: Payload): void {
    if (this.closed) return;
    this.gateway.recordFrame('out', this.session?.id ?? null, payload);
    const text = JSON.stringify(payload);
    if (this.compressor) {
      const compressor = this.compressor;
      this.chain = this.chain.then(async () => {
        const data = await compressor.compress(text);
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
      });
    } else if (this.identifyCompress) {
      const data = zlib.deflateSync(text);
      this.chain = this.chain.then(() => {
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
      });
    } else {
      this.chain = this.chain.then(() => {
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
      });
    }
  }

  close(code: number, reason = CLOSE_REASON[code] ?? ''): void {
    if (this.closed) return;
    this.closed = true;
    this.chain = this.chain.then(() => {
      if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
      this.compressor?.close();
    });
  }

  terminate(): void {
    this.closed = true;
    this.ws.terminate();
    this.compressor?.close();
  }
}

export class GatewaySession {
  seq = 0;
  readonly buffer: Payload[] = [];
  connection: Connection | null = null;
  presence: unknown = null;

  constructor(
    readonly id: string,
    readonly intents: number,
    readonly shard: [number, number],
    readonly identify: Json,
  ) {}

  push(t: string, d: unknown): void {
    this.seq += 1;
    const payload: Payload = { op: GatewayOp.Dispatch, t, s: this.seq, d };
    this.buffer.push(payload);
    if (this.buffer.length > REPLAY_BUFFER) this.buffer.shift();
    this.connection?.send(payload);
  }
}

export interface GatewayOptions {
  state: FakeDiscordState;
  heartbeatIntervalMs: number;
  /** ws:// base of the server, e.g. `ws://127.0.0.1:1234`. */
  baseUrl: () => string;
  log: (line: string) => void;
}

/** Session-aware payload: a function can tailor (or, returning undefined, skip) per session. */
export type DispatchData = unknown | ((session: GatewaySession) => unknown);

export class FakeGateway {
  readonly sessions = new Map<string, GatewaySession>();
  readonly connections = new Set<Connection>();
  readonly frames: GatewayFrame[] = [];
  readonly identifies: Json[] = [];
  sessionStartsUsed = 0;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: GatewayOptions) {}

  get url(): string {
    return `${this.options.baseUrl()}/gateway`;
  }

  get resumeUrl(): string {
    return `${this.options.baseUrl()}/gateway/resume`;
  }

  recordFrame(direction: 'in' | 'out', sessionId: string | null, payload: Payload): void {
    this.frames.push({ direction, sessionId, op: payload.op, t: payload.t ?? null, s: payload.s ?? null, d: payload.d, at: Date.now() });
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves when a frame matching the predicate has been sent or received. */
  waitForFrame(predicate: (frame: GatewayFrame) => boolean, timeoutMs = 2000): Promise<GatewayFrame> {
    const found = this.frames.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        const frame = this.frames.find(predicate);
        if (!frame) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`fakeDiscord: no matching gateway frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path !== '/gateway' && path !== '/gateway/resume') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const encoding = url.searchParams.get('encoding') ?? 'json';
    if (encoding !== 'json') {
      // The fake only speaks JSON; Discord would also accept etf.
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, path, url.searchParams));
  }

  private onConnection(ws: WebSocket, path: string, query: URLSearchParams): void {
    const connection = new Connection(ws, path, query, this);
    this.connections.add(connection);
    this.options.log(`gateway: connection on ${path}?${query.toString()}`);
    ws.on('message', (data, isBinary) => this.onMessage(connection, data as Buffer, isBinary));
    ws.on('close', (code) => this.onClose(connection, code));
    ws.on('error', () => undefined);
    connection.send({
      op: GatewayOp.Hello,
      d: { heartbeat_interval: this.options.heartbeatIntervalMs, _trace: trace() },
      s: null,
      t: null,
    });
    const version = query.get('v');
    if (version !== null && version !== '9' && version !== '10') connection.close(GatewayClose.InvalidAPIVersion);
  }

  private onClose(connection: Connection, code: number): void {
    connection.closed = true;
    this.connections.delete(connection);
    const session = connection.session;
    if (!session || session.connection !== connection) return;
    session.connection = null;
    // Closing with 1000/1001 ends the session; any other code leaves it resumable.
    if (code === 1000 || code === 1001) this.sessions.delete(session.id);
    this.options.log(`gateway: session ${session.id} connection closed (${code})`);
  }

  private onMessage(connection: Connection, data: Buffer, isBinary: boolean): void {
    if (connection.closed) return;
    if (data.length > MAX_PAYLOAD_BYTES) {
      connection.close(GatewayClose.DecodeError);
      return;
    }
    let payload: Payload;
    try {
      const parsed: unknown = JSON.parse(isBinary ? data.toString('utf8') : data.toString());
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as Json).op !== 'number') throw new Error('bad');
      payload = parsed as Payload;
    } catch {
      connection.close(GatewayClose.DecodeError);
      return;
    }
    this.recordFrame('in', connection.session?.id ?? null, payload);
    if (!CLIENT_OPS.has(payload.op)) {
      connection.close(GatewayClose.UnknownOpcode);
      return;
    }
    switch (payload.op) {
      case GatewayOp.Heartbeat:
        connection.send({ op: GatewayOp.HeartbeatAck, d: null, s: null, t: null });
        return;
      case GatewayOp.Identify:
        this.identify(connection, payload.d);
        return;
      case GatewayOp.Resume:
        this.resume(connection, payload.d);
        return;
      default:
        break;
    }
    const session = connection.session;
    if (!session) {
      connection.close(GatewayClose.NotAuthenticated);
      return;
    }
    if (payload.op === GatewayOp.RequestGuildMembers) this.requestGuildMembers(session, payload.d);
    if (payload.op === GatewayOp.PresenceUpdate) session.presence = payload.d;
  }

  private identify(connection: Connection, d: unknown): void {
    if (connection.session) {
      connection.close(GatewayClose.AlreadyAuthenticated);
      return;
    }
    const { state } = this.options;
    const data = (typeof d === 'object' && d !== null ? d : {}) as Json;
    if (data.token !== state.token) {
      this.options.log('gateway: IDENTIFY with a wrong token');
      connection.close(GatewayClose.AuthenticationFailed);
      return;
    }
    const intents = data.intents;
    if (typeof intents !== 'number' || !Number.isInteger(intents) || intents < 0 || (intents & ~ALL_INTENTS) !== 0) {
      connection.close(GatewayClose.InvalidIntents);
      return;
    }
    const privileged = intents & (Intent.GuildMembers | Intent.GuildPresences | Intent.MessageContent);
    if ((privileged & ~state.privilegedIntents) !== 0) {
      connection.close(GatewayClose.DisallowedIntents);
      return;
    }
    let shard: [number, number] = [0, 1];
    if (data.shard !== undefined) {
      const s = data.shard;
      if (
        !Array.isArray(s) ||
        s.length !== 2 ||
        !Number.isInteger(s[0]) ||
        !Number.isInteger(s[1]) ||
        (s[1] as number) < 1 ||
        (s[0] as number) < 0 ||
        (s[0] as number) >= (s[1] as number)
      ) {
        connection.close(GatewayClose.InvalidShard);
        return;
      }
      shard = [s[0] as number, s[1] as number];
    }
    this.identifies.push(data);
    this.sessionStartsUsed += 1;
    connection.identifyCompress = data.compress === true && connection.query.get('compress') !== 'zlib-stream';
    const session = new GatewaySession(randomBytes(16).toString('hex'), intents, shard, data);
    session.connection = connection;
    connection.session = session;
    this.sessions.set(session.id, session);
    this.options.log(`gateway: IDENTIFY ok, session ${session.id}, intents ${intents}`);

    const onShard = Number((BigInt(state.guildId) >> 22n) % BigInt(shard[1])) === shard[0];
    const others = [...state.otherGuilds.values()].filter((g) => Number((BigInt(g.id) >> 22n) % BigInt(shard[1])) === shard[0]);
    session.push('READY', {
      v: 10,
      user_settings: {},
      user: state.botUser,
      guilds: [...(onShard ? [state.guildId] : []), ...others.map((g) => g.id)].map((id) => ({ id, unavailable: true })),
      guild_join_requests: [],
      relationships: [],
      private_channels: [],
      presences: [],
      session_type: 'normal',
      session_id: session.id,
      resume_gateway_url: this.resumeUrl,
      shard,
      application: { id: state.applicationId, flags: state.application.flags },
      geo_ordered_rtc_regions: ['us-east', 'us-central', 'us-west', 'atlanta', 'newark'],
      _trace: trace(),
    });
    // Guilds arrive lazily after READY, only with the GUILDS intent.
    if (intents & Intent.Guilds) {
      setImmediate(() => {
        if (this.sessions.get(session.id) !== session) return;
        if (onShard) session.push('GUILD_CREATE', state.guildCreatePayload(intents));
        for (const guild of others) session.push('GUILD_CREATE', guild.guildCreatePayload(intents));
      });
    }
  }

  private resume(connection: Connection, d: unknown): void {
    if (connection.session) {
      connection.close(GatewayClose.AlreadyAuthenticated);
      return;
    }
    const data = (typeof d === 'object' && d !== null ? d : {}) as Json;
    if (data.token !== this.options.state.token) {
      connection.close(GatewayClose.AuthenticationFailed);
      return;
    }
    const session = typeof data.session_id === 'string' ? this.sessions.get(data.session_id) : undefined;
    const seq = typeof data.seq === 'number' ? data.seq : -1;
    const replay = session?.buffer.filter((p) => (p.s ?? 0) > seq) ?? [];
    const gap = session !== undefined && seq < session.seq && replay[0]?.s !== seq + 1;
    if (!session || seq < 0 || seq > session.seq || gap) {
      connection.send({ op: GatewayOp.InvalidSession, d: false, s: null, t: null });
      return;
    }
    const previous = session.connection;
    if (previous && previous !== connection) {
      previous.session = null;
      previous.close(GatewayClose.UnknownError, 'Session resumed elsewhere');
    }
    session.connection = connection;
    connection.session = session;
    this.options.log(`gateway: RESUME session ${session.id} from seq ${seq}, replaying ${replay.length}`);
    for (const payload of replay) connection.send(payload);
    session.push('RESUMED', { _trace: trace() });
  }

  private requestGuildMembers(session: GatewaySession, d: unknown): void {
    const { state } = this.options;
    const data = (typeof d === 'object' && d !== null ? d : {}) as Json;
    if (data.guild_id !== state.guildId) return;
    const userIds = Array.isArray(data.user_ids) ? data.user_ids.map(String) : typeof data.user_ids === 'string' ? [data.user_ids] : null;
    const query = typeof data.query === 'string' ? data.query.toLowerCase() : '';
    const limit = typeof data.limit === 'number' && data.limit > 0 ? data.limit : Number.POSITIVE_INFINITY;
    const found: string[] = [];
    const notFound: string[] = [];
    if (userIds) {
      for (const id of userIds) (state.members.has(id) ? found : notFound).push(id);
    } else {
      for (const [id] of state.members) {
        const user = state.users.get(id);
        const member = state.members.get(id);
        const names = [user?.username, user?.global_name, member?.nick].filter((n): n is string => typeof n === 'string');
        if (query === '' || names.some((n) => n.toLowerCase().startsWith(query))) found.push(id);
        if (found.length >= limit) break;
      }
    }
    const chunk: Json = {
      guild_id: state.guildId,
      members: found.map((id) => state.memberPayload(id)),
      chunk_index: 0,
      chunk_count: 1,
      not_found: notFound,
    };
    if (data.presences === true) chunk.presences = [];
    if (typeof data.nonce === 'string') chunk.nonce = data.nonce;
    session.push('GUILD_MEMBERS_CHUNK', chunk);
  }

  /**
   * Sends a dispatch to every identified session (connected or waiting to resume) whose intents
   * include `intent` (no intent: everyone, as for INTERACTION_CREATE).
   */
  dispatch(t: string, d: DispatchData, intent?: number): void {
    for (const session of this.sessions.values()) {
      if (intent !== undefined && (session.intents & intent) === 0) continue;
      const data = typeof d === 'function' ? (d as (s: GatewaySession) => unknown)(session) : d;
      if (data === undefined) continue;
      session.push(t, data);
    }
  }

  /** Sends op 7 RECONNECT to every connection; the client should reconnect and RESUME. */
  requestReconnect(): void {
    for (const connection of this.connections) {
      connection.send({ op: GatewayOp.Reconnect, d: null, s: null, t: null });
    }
  }

  /** Sends op 9 INVALID_SESSION; non-resumable sessions are forgotten. */
  invalidateSessions(resumable = false): void {
    for (const connection of this.connections) {
      const session = connection.session;
      if (!session) continue;
      if (!resumable) {
        this.sessions.delete(session.id);
        connection.session = null;
      }
      connection.send({ op: GatewayOp.InvalidSession, d: resumable, s: null, t: null });
    }
  }

  /** Closes every connection with a close code (4000: client may resume; 4004 etc.: fatal). */
  disconnect(code: number = GatewayClose.UnknownError): void {
    for (const connection of this.connections) connection.close(code);
  }

  get connectedSessions(): GatewaySession[] {
    return [...this.sessions.values()].filter((s) => s.connection !== null && !s.connection.closed);
  }

  close(): void {
    for (const connection of this.connections) connection.terminate();
    this.connections.clear();
    this.sessions.clear();
    this.listeners.clear();
    this.wss.close();
  }
}
