/**
 * The fake Discord server at the wire level, without discord.js: gateway opcodes, close codes,
 * compression, resume, intent filtering; REST versioning, auth, errors, headers; webhook rules.
 */
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type FakeDiscord, type FakeDiscordOptions, Intent, startFakeDiscord } from '../../support/fakeDiscord/index.js';

interface Frame {
  op: number;
  d: any;
  s: number | null;
  t: string | null;
}

interface RawGateway {
  ws: WebSocket;
  next(timeoutMs?: number): Promise<Frame>;
  /** Next dispatch with this event name (skipping others). */
  nextEvent(t: string, timeoutMs?: number): Promise<Frame>;
  send(op: number, d: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
}

const fakes: FakeDiscord[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const fake of fakes.splice(0)) await fake.close();
});

async function start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const fake = await startFakeDiscord(options);
  fakes.push(fake);
  return fake;
}

function openGateway(url: string): RawGateway {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const queue: Frame[] = [];
  const waiters: Array<(frame: Frame) => void> = [];
  let compressed = Buffer.alloc(0);
  let inflatedLength = 0;
  ws.on('message', (data: Buffer, isBinary) => {
    let texts: string[];
    if (!isBinary) {
      texts = [data.toString()];
    } else if (url.includes('compress=zlib-stream')) {
      // zlib-stream: one deflate context; every message ends with a sync flush.
      compressed = Buffer.concat([compressed, data]);
      const all = zlib.inflateSync(compressed, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
      texts = [all.slice(inflatedLength)];
      inflatedLength = all.length;
    } else {
      texts = [zlib.inflateSync(data).toString()];
    }
    for (const text of texts) {
      const frame = JSON.parse(text) as Frame;
      const waiter = waiters.shift();
      if (waiter) waiter(frame);
      else queue.push(frame);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const next = (timeoutMs = 2000): Promise<Frame> => {
    const queued = queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no gateway frame')), timeoutMs);
      waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  };
  return {
    ws,
    next,
    async nextEvent(t, timeoutMs = 2000) {
      for (;;) {
        const frame = await next(timeoutMs);
        if (frame.t === t) return frame;
      }
    },
    send(op, d) {
      const payload = JSON.stringify({ op, d });
      if (ws.readyState === WebSocket.OPEN) ws.send(payload);
      else ws.once('open', () => ws.send(payload));
    },
    closed,
  };
}

function identifyPayload(fake: FakeDiscord, intents: number = Intent.Guilds, extra: Record<string, unknown> = {}) {
  return { token: fake.token, intents, properties: { os: 'linux', browser: 'test', device: 'test' }, ...extra };
}

async function identified(fake: FakeDiscord, intents: number = Intent.Guilds): Promise<{ gw: RawGateway; ready: Frame }> {
  const gw = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
  expect((await gw.next()).op).toBe(10);
  gw.send(2, identifyPayload(fake, intents));
  const ready = await gw.nextEvent('READY');
  return { gw, ready };
}

async function api(
  fake: FakeDiscord,
  method: string,
  path: string,
  body?: unknown,
  options: { auth?: boolean; raw?: string; base?: string } = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const headers: Record<string, string> = {};
  if (options.auth !== false) headers.authorization = `Bot ${fake.token}`;
  let payload: string | undefined;
  if (options.raw !== undefined) {
    payload = options.raw;
    headers['content-type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${options.base ?? `${fake.apiUrl}/v10`}${path}`, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

describe('gateway protocol', () => {
  it('sends HELLO first and acknowledges heartbeats, before and after IDENTIFY', async () => {
    const fake = await start({ heartbeatIntervalMs: 12_345 });
    const gw = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    const hello = await gw.next();
    expect(hello).toMatchObject({ op: 10, s: null, t: null, d: { heartbeat_interval: 12_345 } });
    gw.send(1, null);
    expect(await gw.next()).toMatchObject({ op: 11 });
    gw.send(2, identifyPayload(fake));
    const ready = await gw.nextEvent('READY');
    expect(ready.s).toBe(1);
    gw.send(1, 1);
    expect((await gw.next()).op).toBe(0); // GUILD_CREATE comes first
    expect(await gw.next()).toMatchObject({ op: 11 });
  });

  it('READY carries what discord.js needs; GUILD_CREATE follows with roles, channels and members', async () => {
    const fake = await start();
    const { gw, ready } = await identified(fake, Intent.Guilds);
    expect(ready.d).toMatchObject({
      v: 10,
      user: { id: fake.botUser.id, bot: true },
      guilds: [{ id: fake.guildId, unavailable: true }],
      session_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      resume_gateway_url: `${fake.gateway.url}/resume`,
      shard: [0, 1],
      application: { id: fake.applicationId, flags: expect.any(Number) },
    });
    const guild = await gw.nextEvent('GUILD_CREATE');
    expect(guild.s).toBe(2);
    expect(guild.d).toMatchObject({ id: fake.guildId, unavailable: false, owner_id: expect.any(String), member_count: 4 });
    expect(guild.d.roles.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['@everyone', 'Responder', 'Approver']));
    expect(guild.d.channels.map((c: { name: string }) => c.name)).toEqual(['sentinel', 'general', 'alerts']);
    expect(guild.d.members.map((m: { user: { id: string } }) => m.user.id)).toEqual([fake.botUser.id]);

    const withMembers = await identified(fake, Intent.Guilds | Intent.GuildMembers);
    const full = await withMembers.gw.nextEvent('GUILD_CREATE');
    expect(full.d.members).toHaveLength(4);
  });

  it('sends no GUILD_CREATE without the GUILDS intent', async () => {
    const fake = await start();
    const { gw } = await identified(fake, Intent.GuildMessages);
    gw.send(1, 1);
    expect((await gw.next()).op).toBe(11);
  });

  it.each([
    ['a wrong token', (f: FakeDiscord) => ({ ...identifyPayload(f), token: 'nope' }), 4004, {}],
    ['missing intents', (f: FakeDiscord) => ({ token: f.token, properties: {} }), 4013, {}],
    ['unknown intent bits', (f: FakeDiscord) => identifyPayload(f, 1 << 30), 4013, {}],
    ['a privileged intent not enabled', (f: FakeDiscord) => identifyPayload(f, Intent.Guilds | Intent.MessageContent), 4014, { privilegedIntents: 0 }],
    ['an invalid shard', (f: FakeDiscord) => identifyPayload(f, Intent.Guilds, { shard: [1, 1] }), 4010, {}],
  ] as const)('closes IDENTIFY with %s', async (_name, payload, code, options) => {
    const fake = await start(options);
    const gw = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await gw.next();
    gw.send(2, payload(fake));
    expect((await gw.closed).code).toBe(code);
  });

  it('closes with 4003 before IDENTIFY, 4002 on garbage, 4001 on unknown opcodes, 4005 on a second IDENTIFY', async () => {
    const fake = await start();
    const early = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await early.next();
    early.send(3, { status: 'online', since: null, activities: [], afk: false });
    expect((await early.closed).code).toBe(4003);

    const garbage = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await garbage.next();
    garbage.ws.send('{not json');
    expect((await garbage.closed).code).toBe(4002);

    const unknown = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await unknown.next();
    unknown.send(99, null);
    expect((await unknown.closed).code).toBe(4001);

    const { gw } = await identified(fake);
    gw.send(2, identifyPayload(fake));
    expect((await gw.closed).code).toBe(4005);
  });

  it('closes with 4012 on an unsupported API version', async () => {
    const fake = await start();
    const gw = openGateway(`${fake.gateway.url}?v=6&encoding=json`);
    expect((await gw.next()).op).toBe(10);
    expect((await gw.closed).code).toBe(4012);
  });

  it('RESUME replays what was missed and ends with RESUMED; an unknown session gets op 9 false', async () => {
    const fake = await start();
    const { gw, ready } = await identified(fake);
    const guildCreate = await gw.nextEvent('GUILD_CREATE');
    gw.ws.close(4000);
    await gw.closed;
    fake.gateway.dispatch('TEST_EVENT', { n: 1 });

    const again = openGateway(`${ready.d.resume_gateway_url}?v=10&encoding=json`);
    await again.next();
    again.send(6, { token: fake.token, session_id: ready.d.session_id, seq: guildCreate.s });
    expect(await again.next()).toMatchObject({ op: 0, t: 'TEST_EVENT', s: 3, d: { n: 1 } });
    expect(await again.next()).toMatchObject({ op: 0, t: 'RESUMED', s: 4 });

    const stranger = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await stranger.next();
    stranger.send(6, { token: fake.token, session_id: 'f'.repeat(32), seq: 1 });
    expect(await stranger.next()).toMatchObject({ op: 9, d: false });
  });

  it('a session closed with 1000 cannot be resumed', async () => {
    const fake = await start();
    const { gw, ready } = await identified(fake);
    gw.ws.close(1000);
    await gw.closed;
    const again = openGateway(`${fake.gateway.url}/resume?v=10&encoding=json`);
    await again.next();
    again.send(6, { token: fake.token, session_id: ready.d.session_id, seq: 1 });
    expect(await again.next()).toMatchObject({ op: 9, d: false });
  });

  it('supports compress=zlib-stream transport compression', async () => {
    const fake = await start();
    const gw = openGateway(`${fake.gateway.url}?v=10&encoding=json&compress=zlib-stream`);
    expect((await gw.next()).op).toBe(10);
    gw.send(2, identifyPayload(fake));
    expect((await gw.nextEvent('READY')).d.user.id).toBe(fake.botUser.id);
    expect((await gw.next()).t).toBe('GUILD_CREATE');
  });

  it('supports IDENTIFY compress: true (zlib per payload)', async () => {
    const fake = await start();
    const gw = openGateway(`${fake.gateway.url}?v=10&encoding=json`);
    await gw.next();
    let binary = 0;
    gw.ws.on('message', (_data, isBinary) => {
      if (isBinary) binary += 1;
    });
    gw.send(2, identifyPayload(fake, Intent.Guilds, { compress: true }));
    expect((await gw.nextEvent('READY')).d.session_id).toEqual(expect.any(String));
    expect(binary).toBeGreaterThan(0);
  });

  it('answers REQUEST_GUILD_MEMBERS with a GUILD_MEMBERS_CHUNK', async () => {
    const fake = await start();
    const { gw } = await identified(fake, Intent.Guilds | Intent.GuildMembers);
    await gw.nextEvent('GUILD_CREATE');
    const alice = fake.member('alice').user.id;
    gw.send(8, { guild_id: fake.guildId, user_ids: [alice, '123456789012345678'], nonce: 'n1' });
    const chunk = await gw.nextEvent('GUILD_MEMBERS_CHUNK');
    expect(chunk.d).toMatchObject({ guild_id: fake.guildId, nonce: 'n1', not_found: ['123456789012345678'], chunk_index: 0, chunk_count: 1 });
    expect(chunk.d.members.map((m: { user: { id: string } }) => m.user.id)).toEqual([alice]);
  });

  it('filters dispatches by intent and hides other users’ content without MESSAGE_CONTENT', async () => {
    const fake = await start();
    const { gw: guildsOnly } = await identified(fake, Intent.Guilds);
    const { gw: messages } = await identified(fake, Intent.Guilds | Intent.GuildMessages);
    const { gw: content } = await identified(fake, Intent.Guilds | Intent.GuildMessages | Intent.MessageContent);
    for (const gw of [guildsOnly, messages, content]) await gw.nextEvent('GUILD_CREATE');
    const alerts = fake.channel('alerts').id;
    fake.postUserMessage({ userId: fake.member('bob').user.id, channelId: alerts, content: 'hello bot' });
    expect((await messages.nextEvent('MESSAGE_CREATE')).d).toMatchObject({ content: '', guild_id: fake.guildId, member: { roles: [] } });
    expect((await content.nextEvent('MESSAGE_CREATE')).d.content).toBe('hello bot');
    // The bot always sees its own content.
    await api(fake, 'POST', `/channels/${alerts}/messages`, { content: 'from the bot' });
    expect((await messages.nextEvent('MESSAGE_CREATE')).d.content).toBe('from the bot');
    guildsOnly.send(1, null);
    expect((await guildsOnly.next()).op).toBe(11);
  });
});

describe('REST surface', () => {
  it('serves versioned (/api/v10, /api/v9) and unversioned (/api) routes; rejects old versions', async () => {
    const fake = await start();
    for (const base of [`${fake.apiUrl}/v10`, `${fake.apiUrl}/v9`, fake.apiUrl]) {
      const me = await api(fake, 'GET', '/users/@me', undefined, { base });
      expect(me.status).toBe(200);
      expect(me.json).toMatchObject({ id: fake.botUser.id, bot: true });
    }
    expect(fake.calls({ path: '/users/@me' }).map((c) => c.version)).toEqual([10, 9, null]);
    const old = await api(fake, 'GET', '/users/@me', undefined, { base: `${fake.apiUrl}/v6` });
    expect(old.json).toEqual({ message: 'Invalid API version provided', code: 50041 });
  });

  it('answers 401, 404, 405 and invalid JSON like Discord', async () => {
    const fake = await start();
    expect(await api(fake, 'GET', '/users/@me', undefined, { auth: false })).toMatchObject({
      status: 401,
      json: { message: '401: Unauthorized', code: 0 },
    });
    expect(await api(fake, 'GET', '/no/such/route')).toMatchObject({ status: 404, json: { message: '404: Not Found', code: 0 } });
    expect(await api(fake, 'PUT', '/users/@me')).toMatchObject({ status: 405, json: { message: '405: Method Not Allowed', code: 0 } });
    const alerts = fake.channel('alerts').id;
    expect(await api(fake, 'POST', `/channels/${alerts}/messages`, undefined, { raw: '{oops' })).toMatchObject({
      status: 400,
      json: { message: 'The request body contains invalid JSON.', code: 50109 },
    });
    expect(await api(fake, 'GET', '/channels/123456789012345678')).toMatchObject({ status: 404, json: { code: 10003, message: 'Unknown Channel' } });
    expect(await api(fake, 'GET', `/channels/${alerts}/messages/123456789012345678`)).toMatchObject({
      status: 404,
      json: { code: 10008, message: 'Unknown Message' },
    });
    expect(await api(fake, 'POST', `/channels/${fake.channel('sentinel').id}/messages`, { content: 'x' })).toMatchObject({
      status: 400,
      json: { code: 50008 },
    });
  });

  it('carries rate-limit headers with requests to spare, and full 429 headers when injected', async () => {
    const fake = await start();
    const ok = await api(fake, 'GET', '/users/@me');
    expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBeGreaterThan(0);
    expect(ok.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(ok.headers.get('x-ratelimit-reset-after'))).toBeGreaterThan(0);

    fake.injectRateLimit({ path: '/users/@me', retryAfter: 1.5, times: 2 });
    for (let i = 0; i < 2; i++) {
      const limited = await api(fake, 'GET', '/users/@me');
      expect(limited.status).toBe(429);
      expect(limited.json).toEqual({ message: 'You are being rate limited.', retry_after: 1.5, global: false });
      expect(limited.headers.get('retry-after')).toBe('1.5');
      expect(limited.headers.get('x-ratelimit-limit')).toBe('5');
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      expect(limited.headers.get('x-ratelimit-reset-after')).toBe('1.500');
      expect(limited.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
      expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    }
    expect((await api(fake, 'GET', '/users/@me')).status).toBe(200);
    expect(fake.calls({ path: '/users/@me' }).map((c) => c.injected ?? null)).toEqual([null, 'rate_limit', 'rate_limit', null]);
  });

  it('waitForCall sees past calls by default and only newer ones with `after`', async () => {
    const fake = await start();
    await api(fake, 'GET', '/users/@me');
    const past = await fake.waitForCall({ method: 'GET', path: '/users/@me' });
    expect(past.status).toBe(200);
    const mark = fake.lastSeq;
    const pending = fake.waitForCall((c) => c.path === '/users/@me', 1000, mark);
    await api(fake, 'GET', '/users/@me', undefined, { auth: false });
    expect((await pending).status).toBe(401);
    await expect(fake.waitForCall({ path: '/never' }, 50)).rejects.toThrow(/no matching REST call within 50 ms/);
  });

  it('validates command registration like Discord (errors keyed by index in a bulk overwrite)', async () => {
    const fake = await start();
    const path = `/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`;
    const bad = await api(fake, 'PUT', path, [
      { name: 'ok', description: 'fine' },
      { name: 'Has Spaces', description: 'd'.repeat(101) },
    ]);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      code: 50035,
      errors: {
        1: {
          name: { _errors: [{ code: 'APPLICATION_COMMAND_INVALID_NAME' }] },
          description: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' }] },
        },
      },
    });
    expect(fake.commands()).toHaveLength(0);
    const first = await api(fake, 'PUT', path, [{ name: 'status', description: 'Status' }]);
    const second = await api(fake, 'PUT', path, [{ name: 'status', description: 'Status!' }]);
    expect(second.json[0].id).toBe(first.json[0].id);
    expect(second.json[0].version).not.toBe(first.json[0].version);
  });
});

describe('interaction webhook rules', () => {
  async function buttonInteraction(fake: FakeDiscord) {
    await identified(fake);
    const alerts = fake.channel('alerts').id;
    const message = await api(fake, 'POST', `/channels/${alerts}/messages`, {
      content: 'x',
      components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'go' }] }],
    });
    return fake.clickButton({ userId: fake.member('alice').user.id, messageId: message.json.id, customId: 'go' });
  }

  it('follow-ups need an acknowledged interaction; @original needs a response', async () => {
    const fake = await start();
    const handle = await buttonInteraction(fake);
    const hook = `/webhooks/${fake.applicationId}/${handle.token}`;
    expect(await api(fake, 'POST', hook, { content: 'early' }, { auth: false })).toMatchObject({
      status: 404,
      json: { code: 10015, message: 'Unknown Webhook' },
    });
    expect(await api(fake, 'GET', `${hook}/messages/@original`, undefined, { auth: false })).toMatchObject({
      status: 404,
      json: { code: 10008 },
    });
    const callback = await api(fake, 'POST', `/interactions/${handle.id}/${handle.token}/callback?with_response=true`, {
      type: 5,
    }, { auth: false });
    expect(callback.status).toBe(200);
    expect(callback.json).toMatchObject({
      interaction: { id: handle.id, type: 3, response_message_loading: true, response_message_ephemeral: false },
      resource: { type: 5, message: { flags: 128, content: '' } },
    });
    // Deprecated but real: the first follow-up after a deferred reply completes the placeholder.
    const first = await api(fake, 'POST', hook, { content: 'done' }, { auth: false });
    expect(first.json.id).toBe(handle.original()?.id);
    expect(first.json.flags).toBe(0);
    const second = await api(fake, 'POST', `${hook}?wait=true`, { content: 'more', flags: 64 }, { auth: false });
    expect(second.json.id).not.toBe(first.json.id);
    expect(second.json.flags).toBe(64);
    expect(handle.followUps.map((m) => m.content)).toEqual(['done', 'more']);
    expect((await api(fake, 'DELETE', `${hook}/messages/${second.json.id}`, undefined, { auth: false })).status).toBe(204);
    expect((await api(fake, 'GET', `${hook}/messages/${second.json.id}`, undefined, { auth: false })).status).toBe(404);
  });

  it('rejects callback types that do not fit the interaction', async () => {
    const fake = await start();
    const handle = await buttonInteraction(fake);
    const bad = await api(fake, 'POST', `/interactions/${handle.id}/${handle.token}/callback`, { type: 8, data: { choices: [] } }, { auth: false });
    expect(bad).toMatchObject({ status: 400, json: { code: 50035, errors: { type: { _errors: [{ code: 'BASE_TYPE_CHOICES' }] } } } });
    expect(handle.acknowledged).toBe(false);
    expect(await api(fake, 'POST', `/interactions/${handle.id}/wrong-token/callback`, { type: 6 }, { auth: false })).toMatchObject({
      status: 404,
      json: { code: 10062 },
    });
  });

  it('the interaction token expires (Discord: 15 minutes)', async () => {
    const fake = await start({ interactionTokenTtlMs: 100 });
    const handle = await buttonInteraction(fake);
    expect((await api(fake, 'POST', `/interactions/${handle.id}/${handle.token}/callback`, { type: 6 }, { auth: false })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await api(fake, 'PATCH', `/webhooks/${fake.applicationId}/${handle.token}/messages/@original`, { content: 'late' }, { auth: false })).toMatchObject({
      status: 401,
      json: { code: 50027, message: 'Invalid Webhook Token' },
    });
  });
});
