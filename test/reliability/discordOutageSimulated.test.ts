/**
 * Discord answering 503 for five minutes and then 429 for five more, on a simulated clock: every
 * approval request, alert and report handled meanwhile is recorded and its SQS message done (none
 * left to be redelivered into the DLQ, no dead-letter record), the outbox keeps trying with a
 * bounded back-off (not a hot loop, never giving up), and once Discord answers again each message
 * is posted once, approvals first, and each incident message ends showing the latest it was given.
 *
 * What is simulated: time (vitest's fake setTimeout/setInterval and Date; the outbox, the stores
 * and the handlers read that clock; file I/O is real) and Discord's REST answers: a DiscordPort that
 * fails as discord.js reports Discord's 503 and 429 (DiscordError with the status), then keeps what
 * it is sent. The same outage against the real discord.js and the fake Discord, compressed to 45 s
 * of real time and with SQS and Step Functions on moto, is test/bot/outbox/discordOutage.test.ts.
 * Real: dispatchMessage and the handlers, the bot's file stores and Discord outbox in a temporary
 * data directory (test/helpers/intakeContext.ts).
 */
import { stat } from 'node:fs/promises';
import type { APIEmbed, MessageCreateOptions, MessageEditOptions } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DiscordError } from '../../src/errors.js';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import type { DiscordPort } from '../../src/handlers/ports/discordPort.js';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { createIntakeContext, INTAKE_ROLE_ID, type IntakeContext } from '../helpers/intakeContext.js';
import { fluentBitLine, guardDutyEvent, kv, reverseShellLine } from '../helpers/events.js';

const NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';
const MINUTE = 60_000;

type Mode = 'up' | '503' | '429';
interface Shown {
  channelId: string;
  /** Every payload the message was posted or edited with, in order. */
  payloads: (MessageCreateOptions | MessageEditOptions)[];
}

/** Discord's REST as the outbox sees it through its port: failing while `mode` says so, else keeping what it is sent. */
function simulatedDiscord() {
  const state = {
    mode: '503' as Mode,
    attempts: [] as { at: number; mode: Mode }[],
    messages: new Map<string, Shown>(),
    /** Successful writes, in order. */
    writes: [] as { at: number; op: 'post' | 'edit' | 'thread'; messageId: string }[],
    nonces: new Map<string, string>(),
    nextId: 1_000_000,
  };
  const gate = () => {
    state.attempts.push({ at: Date.now(), mode: state.mode });
    if (state.mode === '503') throw new DiscordError('503 Service Unavailable', { details: { status: 503 } });
    if (state.mode === '429') throw new DiscordError('You are being rate limited.', { details: { status: 429 } });
  };
  const port: DiscordPort = {
    async post(channelId, payload, options = {}) {
      gate();
      const earlier = options.nonce ? state.nonces.get(options.nonce) : undefined;
      if (earlier) return { channelId, messageId: earlier };
      const messageId = String(state.nextId++);
      if (options.nonce) state.nonces.set(options.nonce, messageId);
      state.messages.set(messageId, { channelId, payloads: [payload] });
      state.writes.push({ at: Date.now(), op: 'post', messageId });
      return { channelId, messageId };
    },
    async edit(_channelId, messageId, payload) {
      gate();
      const m = state.messages.get(messageId);
      if (!m) throw new DiscordError('Unknown Message', { details: { status: 404, code: 10008 } });
      m.payloads.push(payload);
      state.writes.push({ at: Date.now(), op: 'edit', messageId });
    },
    async thread(_channelId, messageId) {
      gate();
      state.writes.push({ at: Date.now(), op: 'thread', messageId });
      return `9${messageId}`;
    },
    async fetchEmbeds(_channelId, messageId) {
      gate();
      const last = state.messages.get(messageId)?.payloads.at(-1);
      return (last?.embeds ?? []) as APIEmbed[];
    },
    isReady: () => true,
  };
  return { port, state };
}

let discord: ReturnType<typeof simulatedDiscord>;
let t: IntakeContext;

/**
 * Lets real I/O (the file stores) finish between steps of the simulated clock: event-loop turns,
 * and a file system round trip queued behind whatever the outbox and the stores have asked for.
 */
async function realTurns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (i % 5 === 4) await stat(t.dir);
  }
}

/** Simulated time passes, one second at a time, with real I/O in between. */
async function pass(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    await vi.advanceTimersByTimeAsync(Math.min(1000, left));
    await realTurns();
  }
}

/** Runs a handler to its end while hardly any simulated time passes. */
async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  const p = promise.finally(() => {
    done = true;
  });
  while (!done) {
    await vi.advanceTimersByTimeAsync(5);
    await realTurns(5);
  }
  return p;
}

let seq = 0;
async function deliver(body: unknown, source: 'intake' | 'control'): Promise<'done' | 'retry'> {
  seq += 1;
  const m: IntakeMessage = {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    body: JSON.stringify(body),
    receiveCount: 1,
    source,
    transport: 'sqs',
    ...(source === 'control' ? { senderId: `${INTAKE_ROLE_ID}:exec` } : {}),
    sentAt: new Date(),
  };
  return settle(dispatchMessage(m, t.ctx));
}

function triaged(event: unknown): Record<string, unknown> {
  const r = triageEvent(event, loadPlaybookConfig(undefined));
  if (!r.ok) throw new Error(r.error);
  return r.result as unknown as Record<string, unknown>;
}

const askEvent = (tag: string) =>
  fluentBitLine(
    `ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/var/www/html/uploads/x', cmdline: `x -c id # ${tag}`, container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: `web-${tag}`, ns: 'dvwa', node: NODE, user: 'www-data' })}`,
    { host: NODE },
  );

/** The incident an event opened (its id and execution), from the incident store. */
async function incidentOf(event: unknown): Promise<{ incidentId: string; executionName: string }> {
  // The intake records the start; the starter makes it.
  await settle(t.ctx.starts.idle());
  const started = t.lines.filter((l) => l.message === 'playbook started').at(-1);
  const incidentId = String(started?.incidentId);
  const state = await t.ctx.incidents.get(incidentId);
  expect(state, 'the incident is recorded').toBeDefined();
  expect(JSON.stringify(state)).toContain(String(triaged(event).dedupeKey).slice(0, 16));
  return { incidentId, executionName: state!.executionName! };
}

async function askFor(event: unknown): Promise<{ incidentId: string; approvalId: string }> {
  expect(await deliver(event, 'intake')).toBe('done');
  const { incidentId, executionName } = await incidentOf(event);
  const request = {
    kind: 'approval-request',
    taskToken: t.liveToken(),
    incident: { incidentId, executionName, triage: triaged(event) },
    proposedAction: { action: 'isolate-node', input: { node: NODE }, summary: 'isolate the node' },
    timeoutSeconds: 3600,
    requestedAt: new Date().toISOString(),
  };
  expect(await deliver(request, 'control')).toBe('done');
  const [record] = await t.ctx.approvals.listForIncident(incidentId);
  return { incidentId, approvalId: record!.approvalId };
}

async function reportFor(event: unknown, route: string): Promise<string> {
  expect(await deliver(event, 'intake')).toBe('done');
  const { incidentId, executionName } = await incidentOf(event);
  const report = { kind: 'report', executionName, incident: { incidentId, executionName, startTime: new Date().toISOString(), route, triage: triaged(event), results: {} } };
  expect(await deliver(report, 'control')).toBe('done');
  return incidentId;
}

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: Date.parse('2026-12-06T01:00:00Z') });
  discord = simulatedDiscord();
  t = await createIntakeContext({ port: discord.port, now: () => Date.now() });
  await settle(t.outbox.start());
});

afterAll(async () => {
  vi.useRealTimers();
  await t?.close();
});

describe('Discord failing for ten minutes (simulated time)', () => {
  it('503 for five minutes, then 429 for five: approvals, alerts and reports recorded, none dead-lettered, each posted once afterwards, approvals first', { timeout: 120_000 }, async () => {
    const outageStart = Date.now();
    // During the 503s: an incident asking for a decision, and one that runs to its report.
    const first = await askFor(askEvent('outage-first'));
    const shellReported = await reportFor(fluentBitLine(reverseShellLine({ ip: '203.0.113.77' }), { host: NODE, priority: 'Critical' }), 'block-egress');
    await pass(3 * MINUTE);
    // Three minutes in: a GuardDuty alert.
    const finding = guardDutyEvent({ id: 'simulatedoutagefinding0001', resourceType: 'S3Bucket' });
    expect(await deliver(finding, 'intake')).toBe('done');
    await pass(2 * MINUTE);

    // Five minutes in, Discord answers 429 instead: another decision asked, and another report.
    discord.state.mode = '429';
    await pass(2 * MINUTE);
    const second = await askFor(askEvent('outage-second'));
    const fileReported = await reportFor(
      fluentBitLine(`ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: '/var/www/html/uploads/o.php', proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: 'web-outage', ns: 'dvwa', node: NODE })}`, {
        host: NODE,
      }),
      'file-artifact',
    );
    await pass(3 * MINUTE);
    expect(Date.now() - outageStart).toBeGreaterThanOrEqual(10 * MINUTE);

    // Ten minutes: nothing got through, the outbox kept trying with a bounded back-off, gave up on nothing.
    expect(discord.state.writes).toEqual([]);
    const tries = discord.state.attempts.filter((a) => a.at >= outageStart);
    expect(tries.filter((a) => a.mode === '503').length).toBeGreaterThanOrEqual(5);
    expect(tries.filter((a) => a.mode === '429').length).toBeGreaterThanOrEqual(5);
    expect(tries.length).toBeLessThan(200);
    const gaps = tries.slice(1).map((a, i) => a.at - tries[i]!.at);
    // At most the outbox's longest back-off (30 s) apart, give or take the one-second steps of the
    // simulated clock and the real I/O between them.
    expect(Math.max(...gaps)).toBeLessThanOrEqual(40_000);
    expect(t.lines.filter((l) => l.message.startsWith('a message failed three times'))).toEqual([]);
    // Every SQS message was done (deleted), none left for the DLQ, and no dead-letter record was written.
    expect(await t.ctx.deadLetters!.list()).toEqual([]);
    expect(t.lines.filter((l) => /will retry/.test(l.message))).toEqual([]);

    // Discord is back.
    discord.state.mode = 'up';
    const back = Date.now();
    // About a minute on an idle machine (the back-off left from the outage, then the channel's
    // budget); a loaded one lets simulated time run ahead of the real I/O, hence the margin.
    for (let i = 0; i < 300 && !(await everythingShown()); i++) await pass(1000);
    expect(await everythingShown()).toBe(true);
    expect(Date.now() - back).toBeLessThan(5 * MINUTE);

    // Each approval posted once, ahead of the rest; each incident's one message shows its latest.
    const posts = discord.state.writes.filter((w) => w.op === 'post');
    const approvalIds = new Set(await Promise.all([first, second].map(async (a) => (await t.ctx.approvals.get(a.approvalId))!.messageId!)));
    expect(approvalIds.size).toBe(2);
    expect(new Set(posts.slice(0, 2).map((p) => p.messageId))).toEqual(approvalIds);
    expect(posts.filter((p) => approvalIds.has(p.messageId))).toHaveLength(2);
    for (const incidentId of [shellReported, fileReported]) {
      const state = await t.ctx.incidents.get(incidentId);
      const shown = discord.state.messages.get(state!.messageId!)!;
      expect((shown.payloads.at(-1)!.embeds![0] as APIEmbed).title, incidentId).toMatch(/^Report: /);
      expect(posts.filter((p) => p.messageId === state!.messageId)).toHaveLength(1);
    }
    for (const a of [first, second]) {
      const record = await t.ctx.approvals.get(a.approvalId);
      expect(record?.status).toBe('pending');
      expect(Date.parse(record!.deadline)).toBeGreaterThan(Date.now());
    }
    const alert = [...discord.state.messages.values()].filter((m) => JSON.stringify(m.payloads[0]).includes('Execution:Runtime/ReverseShell'));
    expect(alert).toHaveLength(1);
    expect(await t.ctx.audit.readAudit({ approvalId: first.approvalId, outcome: 'posted' })).toHaveLength(1);
    expect(await t.ctx.audit.readAudit({ approvalId: second.approvalId, outcome: 'posted' })).toHaveLength(1);

    async function everythingShown(): Promise<boolean> {
      const approvals = await Promise.all([first, second].map((a) => t.ctx.approvals.get(a.approvalId)));
      const reports = await Promise.all([shellReported, fileReported].map((id) => t.ctx.incidents.get(id)));
      const reportShown = reports.every((s) => {
        const last = s?.messageId ? discord.state.messages.get(s.messageId)?.payloads.at(-1) : undefined;
        return ((last?.embeds?.[0] as APIEmbed | undefined)?.title ?? '').startsWith('Report: ');
      });
      const alertShown = [...discord.state.messages.values()].some((m) => JSON.stringify(m.payloads[0]).includes('Execution:Runtime/ReverseShell'));
      return approvals.every((r) => r?.messageId) && reportShown && alertShown && Object.values(t.outbox.backlog()).every((n) => n === 0);
    }
  });
});
