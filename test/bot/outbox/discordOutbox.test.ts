/**
 * The outbox on its own, against the real discord.js Client and the fake Discord, with the bot's
 * real file stores in a temporary data directory (no AWS involved): what it does when Discord
 * refuses a message for good, when someone deletes a message it keeps up to date, in which
 * order it serves what waits for one channel, and how an approval's late plan and its decision
 * meet on one message.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordPort } from '../../../src/bot/discordPort.js';
import { createDiscordOutbox, type DiscordOutbox } from '../../../src/bot/outbox/discordOutbox.js';
import { message } from '../../../src/handlers/render/payload.js';
import { approvalButtons } from '../../../src/handlers/render/approvalMessage.js';
import { renderDecisionOnMessage } from '../../../src/handlers/render/decisionOnMessage.js';
import { FileApprovalStore } from '../../../src/stores/fileApprovalStore.js';
import { FileAuditLog } from '../../../src/stores/fileAuditLog.js';
import { FileIncidentStore } from '../../../src/stores/fileIncidentStore.js';
import { createLogger } from '../../../src/logger.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../../support/aws.js';
import { startFakeDiscord, type FakeDiscord } from '../../support/fakeDiscord/index.js';
import { parseLogs } from '../../helpers/botHarness.js';
import { falcoJson } from '../../helpers/events.js';

let fake: FakeDiscord;
let client: Client;
let dir: string;
let outbox: DiscordOutbox | undefined;
const lines: string[] = [];

beforeAll(async () => {
  fake = await startFakeDiscord();
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
});

let incidentStore: FileIncidentStore | undefined;

afterAll(async () => {
  await client?.destroy();
  await fake?.close();
});

afterEach(async () => {
  await outbox?.stop(0);
  outbox = undefined;
  // Written now, not by the store's timer while the directory is removed.
  await incidentStore?.flush();
  incidentStore = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function start(options: { budget?: number; windowMs?: number; approvalReserve?: number } = {}) {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-outbox-'));
  const logger = createLogger({ format: 'json', level: 'debug', stream: new Writable({ write: (c, _e, done) => (lines.push(...String(c).split('\n').filter(Boolean)), done()) }) });
  const incidents = new FileIncidentStore({ dir: join(dir, 'incidents') });
  incidentStore = incidents;
  const channelId = fake.channel('alerts').id;
  outbox = createDiscordOutbox({
    dir: join(dir, 'outbox'),
    port: createDiscordPort(client),
    channelId,
    incidents,
    approvals: new FileApprovalStore({ dir: join(dir, 'approvals'), logger }),
    audit: new FileAuditLog({ dir }),
    logger,
    budget: options.budget ?? 20,
    ...(options.windowMs !== undefined ? { windowMs: options.windowMs } : {}),
    ...(options.approvalReserve !== undefined ? { approvalReserve: options.approvalReserve } : {}),
    editIntervalMs: 1000,
    digestThreshold: 8,
    digestWindowMs: 600_000,
  });
  await outbox.start();
  return { outbox, incidents, channelId };
}

function probeTriage(n: number) {
  const r = triageEvent(falcoJson({ rule: 'Outbox probe', priority: 'Warning', output: `probe ${n}`, fields: { 'k8s.pod.name': `web-${n}`, 'k8s.ns.name': 'dvwa' } }), loadPlaybookConfig(undefined));
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

describe('the Discord outbox', () => {
  it('a message Discord refuses for good (400) is tried three times, kept on disk as failed, logged; the rest still goes out', async () => {
    const { outbox: o, channelId } = await start();
    // An embed title over Discord's 256 characters: 400 Invalid Form Body, whatever the retry.
    await o.post('too-long', message([{ title: 'x'.repeat(300) }]), { channelId }, 'report');
    await o.post('fine', { ...message([]), content: 'after the refused one' }, { channelId }, 'report');
    await fake.waitForMessage((m) => m.content === 'after the refused one', 10_000);
    const file = join(dir, 'outbox', 'post.too-long.json');
    const slot = await waitFor(async () => {
      const s = JSON.parse(await readFile(file, 'utf8')) as { failed?: { reason: string } };
      return s.failed ? s : undefined;
    }, { timeoutMs: 20_000, what: 'the refused message kept as failed' });
    expect(slot.failed!.reason).toMatch(/Invalid Form Body/);
    const refusals = fake.calls((c) => c.method === 'POST' && c.status === 400 && JSON.stringify(c.body).includes('x'.repeat(300)));
    expect(refusals).toHaveLength(3);
    expect(parseLogs(lines).filter((l) => l.message === 'a message failed three times; it is kept in the outbox as failed and not sent again' && l.key === 'post.too-long')).toHaveLength(1);
    expect(o.backlog()).toEqual({ approval: 0, report: 0, incident: 0, update: 0 });
  });

  it('an incident message someone deleted is posted again on its next change, and the incident points at the new one', async () => {
    const { outbox: o, incidents, channelId } = await start();
    const triage = probeTriage(1);
    const observed = await incidents.observe({ dedupeKey: triage.dedupeKey, messageId: 'sqs-1', at: new Date(), event: {}, windowMs: 600_000 });
    const incidentId = observed.incident.incidentId;
    await o.showIncident(incidentId, { kind: 'incident', incidentId, triage: triage as unknown as Record<string, unknown>, observe: false });
    const first = await fake.waitForMessage((m) => (m.embeds[0]?.footer?.text ?? '').includes(incidentId), 10_000);
    await waitFor(async () => ((await incidents.get(incidentId))?.messageId === first.id ? true : undefined), { what: 'the message id on the incident' });

    const res = await fetch(`${fake.apiUrl}/v10/channels/${channelId}/messages/${first.id}`, { method: 'DELETE', headers: { authorization: `Bot ${fake.token}` } });
    expect(res.status).toBe(204);
    await incidents.observe({ dedupeKey: triage.dedupeKey, messageId: 'sqs-2', at: new Date(), event: {}, windowMs: 600_000 });
    o.touchIncident(incidentId);

    const second = await fake.waitForMessage((m) => m.id !== first.id && (m.embeds[0]?.footer?.text ?? '').includes(incidentId), 15_000);
    expect(second.embeds[0]?.fields?.find((f) => f.name === 'Repeats')?.value).toMatch(/^seen 2 times/);
    await waitFor(async () => ((await incidents.get(incidentId))?.messageId === second.id ? true : undefined), { what: 'the incident pointing at the new message' });
    expect(fake.messages(channelId).filter((m) => (m.embeds[0]?.footer?.text ?? '').includes(incidentId))).toHaveLength(1);
  });

  it('serves one channel in lanes: an approval recorded last goes out before incidents, reports and counters waiting for the budget', async () => {
    const { outbox: o, channelId } = await start({ budget: 1 });
    const before = fake.lastSeq;
    for (let n = 10; n < 14; n += 1) {
      const t = probeTriage(n);
      await o.showIncident(`inc-lanes-${n}`, { kind: 'incident', incidentId: `inc-lanes-${n}`, triage: t as unknown as Record<string, unknown>, observe: false });
    }
    await o.post('lanes-report', { ...message([]), content: 'a report line' }, { channelId }, 'report');
    await o.requestApproval({ approvalId: 'lanesApproval00001', incidentId: 'inc-lanes-10', action: 'isolate-node', payload: { ...message([]), content: 'approve me' } });
    // One write per 5 s: the first incident went out at once; then the approval, then the report, then the incidents.
    await fake.waitForMessage((m) => m.content === 'approve me', 15_000);
    await fake.waitForMessage((m) => m.content === 'a report line', 15_000);
    const posts = fake.calls((c) => c.seq > before && c.method === 'POST' && c.status === 200);
    const order = posts.map((c) => ((c.body as { content?: string }).content ?? 'incident'));
    expect(order.slice(0, 3)).toEqual(['incident', 'approve me', 'a report line']);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(4900);
  }, 30_000);

  it('keeps the last write of the window for approvals: incidents stop one short of the budget, and an approval recorded then goes out in the same window', async () => {
    // A long window (60 s) so that nothing leaves it during the test: whatever is posted, the budget allowed in one window.
    const { outbox: o } = await start({ budget: 4, windowMs: 60_000 });
    const before = fake.lastSeq;
    for (let n = 20; n < 26; n += 1) {
      const t = probeTriage(n);
      await o.showIncident(`inc-reserve-${n}`, { kind: 'incident', incidentId: `inc-reserve-${n}`, triage: t as unknown as Record<string, unknown>, observe: false });
    }
    const posted = () => fake.calls((c) => c.seq > before && c.method === 'POST' && c.status === 200);
    // Three of the six incidents go out; the other three wait for the window, though one write of the budget is left.
    await waitFor(async () => (posted().length >= 3 && o.backlog().incident === 3 ? true : undefined), { timeoutMs: 10_000, what: 'three incident posts, three waiting' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(posted()).toHaveLength(3);
    expect(o.backlog()).toMatchObject({ approval: 0, incident: 3 });

    await o.requestApproval({ approvalId: 'reserveApproval0001', incidentId: 'inc-reserve-20', action: 'isolate-node', payload: { ...message([]), content: 'approve within the window' } });
    await fake.waitForMessage((m) => m.content === 'approve within the window', 10_000);
    const order = posted().map((c) => ((c.body as { content?: string }).content ?? 'incident'));
    expect(order).toEqual(['incident', 'incident', 'incident', 'approve within the window']);
    expect(o.backlog().incident).toBe(3);
  }, 30_000);

  it('keeps no reserve when told so (approvalReserve 0): incidents take the whole window and an approval recorded then waits for it to move', async () => {
    const { outbox: o } = await start({ budget: 4, windowMs: 60_000, approvalReserve: 0 });
    const before = fake.lastSeq;
    for (let n = 30; n < 36; n += 1) {
      const t = probeTriage(n);
      await o.showIncident(`inc-noreserve-${n}`, { kind: 'incident', incidentId: `inc-noreserve-${n}`, triage: t as unknown as Record<string, unknown>, observe: false });
    }
    const posted = () => fake.calls((c) => c.seq > before && c.method === 'POST' && c.status === 200);
    await waitFor(async () => (posted().length >= 4 ? true : undefined), { timeoutMs: 10_000, what: 'four incident posts' });
    await o.requestApproval({ approvalId: 'noReserveApproval01', incidentId: 'inc-noreserve-30', action: 'isolate-node', payload: { ...message([]), content: 'approval without a reserve' } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(posted()).toHaveLength(4);
    expect(o.backlog()).toMatchObject({ approval: 1, incident: 2 });
  }, 30_000);
  it('incidents recorded all at once past the digest threshold: each is shown once, on its own or as one digest member', async () => {
    const { outbox: o, incidents } = await start({ budget: 2 });
    const ids = await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        const triage = probeTriage(1000 + n);
        const observed = await incidents.observe({ dedupeKey: triage.dedupeKey, messageId: `sqs-${n}`, at: new Date(), event: {}, windowMs: 600_000 });
        return { incidentId: observed.incident.incidentId, triage };
      }),
    );
    // Recorded concurrently, as the intake's pool records them: a placing sees the others waiting while their records are written.
    await Promise.all(ids.map(({ incidentId, triage }) => o.showIncident(incidentId, { kind: 'incident', incidentId, triage: triage as unknown as Record<string, unknown>, observe: false })));
    const files = await readdir(join(dir, 'outbox'));
    const slots = await Promise.all(files.filter((f) => f.endsWith('.json')).map(async (f) => JSON.parse(await readFile(join(dir, 'outbox', f), 'utf8')) as { key: string; digest?: string; view: { kind: string; members?: string[] } }));
    const members = slots.filter((sl) => sl.view.kind === 'digest').flatMap((sl) => sl.view.members ?? []);
    expect(new Set(members).size).toBe(members.length);
    const alone = slots.filter((sl) => sl.view.kind === 'incident' && !sl.digest).map((sl) => sl.key);
    expect(members.length).toBeGreaterThan(0);
    expect([...alone, ...members].sort()).toEqual(ids.map(({ incidentId }) => `incident.${incidentId}`).sort());
  });

  describe('an approval whose plan comes after it was posted', () => {
    const approvalId = 'latePlanApproval01';
    const responder = 'discord:200000000000000001';
    const question = (plan: string) => message([{ title: 'Approval', fields: [{ name: 'Preflight', value: plan }] }], [approvalButtons(approvalId, false)]);
    const fieldsOf = (id: string) => JSON.stringify(fake.message(id)?.embeds ?? []);

    async function postQuestion(o: DiscordOutbox) {
      await o.requestApproval({ approvalId, incidentId: 'inc-late-plan', action: 'isolate-node', payload: question('the plan is added here when it does') });
      const posted = await fake.waitForMessage((m) => JSON.stringify(m.embeds).includes('added here when it does'), 10_000);
      await waitFor(async () => (o.backlog().approval === 0 ? true : undefined), { what: 'the approval sent' });
      return posted;
    }

    it('a click that shows the decision while the plan still waits for the channel: the plan goes out with the decision on it, never over it', async () => {
      // One write per 3 s: the plan's edit waits behind the approval's post.
      const { outbox: o, channelId } = await start({ budget: 1, windowMs: 3000 });
      const posted = await postQuestion(o);
      expect(await o.updateApproval(approvalId, question('would cordon ip-10-0-1-23'))).toBe('recorded');
      // The responder's click shows the decision on the message as Discord had it (the button
      // handler's interaction reply; here the same edit through the bot's port).
      const at = new Date();
      await createDiscordPort(client).edit(channelId, posted.id, renderDecisionOnMessage({ approvalId, embeds: posted.embeds, decision: 'block', by: [responder], at }));
      expect(fieldsOf(posted.id)).toContain('Blocked');
      expect(await o.showApprovalOutcome(approvalId, { decision: 'block', by: [responder], at }, { shown: true })).toBe(true);

      await waitFor(async () => (fieldsOf(posted.id).includes('would cordon') ? true : undefined), { timeoutMs: 10_000, what: 'the plan on the message' });
      const shown = fake.message(posted.id)!;
      expect(fieldsOf(posted.id)).toContain('Blocked');
      expect(JSON.stringify(shown.components)).toContain('"disabled":true');
      expect(JSON.stringify(shown.components)).not.toContain('"disabled":false');
      // A decided approval takes no other question.
      expect(await o.updateApproval(approvalId, question('another plan'))).toBe('decided');
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(fieldsOf(posted.id)).not.toContain('another plan');
    }, 30_000);

    it('a new approval goes out before the plan of one already posted', async () => {
      const { outbox: o } = await start({ budget: 1, windowMs: 3000 });
      const posted = await postQuestion(o);
      const before = fake.lastSeq;
      expect(await o.updateApproval(approvalId, question('would cordon ip-10-0-1-23'))).toBe('recorded');
      await o.requestApproval({ approvalId: 'secondApproval0001', incidentId: 'inc-second', action: 'isolate-node', payload: { ...message([]), content: 'a second question' } });
      await waitFor(async () => (fieldsOf(posted.id).includes('would cordon') ? true : undefined), { timeoutMs: 15_000, what: 'the plan on the first message' });
      const writes = fake.calls((c) => c.seq > before && (c.method === 'POST' || c.method === 'PATCH') && c.status === 200);
      expect(writes.map((c) => (c.method === 'POST' ? (c.body as { content?: string }).content : 'plan edit'))).toEqual(['a second question', 'plan edit']);
    }, 30_000);

    it('a click that shows the decision when the outbox has nothing of its own to send: no second edit', async () => {
      const { outbox: o, channelId } = await start();
      const posted = await postQuestion(o);
      const edits = () => fake.calls((c) => c.method === 'PATCH' && c.path.endsWith(`/messages/${posted.id}`));
      const at = new Date();
      await createDiscordPort(client).edit(channelId, posted.id, renderDecisionOnMessage({ approvalId, embeds: posted.embeds, decision: 'allow', by: [responder], at }));
      expect(await o.showApprovalOutcome(approvalId, { decision: 'allow', by: [responder], at }, { shown: true })).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(edits()).toHaveLength(1);
      expect(o.backlog().approval).toBe(0);
      expect(fieldsOf(posted.id)).toContain('Allowed');
    });
  });
});
