/**
 * The bot end to end: the real discord.js Client against the fake Discord, the real AWS SDK against
 * moto (SQS, Step Functions running the Falco playbook from deploy/statemachines, EC2, S3), the
 * real client-node against the fake Kubernetes API. Nothing in the bot is replaced.
 *
 * One harness (queue, state machine, instance, bot) for the file; every test uses its own event
 * (its own pod name), so its own incident and execution.
 */
import { DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, SendTaskSuccessCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import { waitFor } from '../support/aws.js';
import { LIMITS, embedSize } from '../support/fakeDiscord/index.js';
import type { RecordedCall } from '../support/fakeDiscord/types.js';
import { artifactExecEvent, createBotHarness, parseLogs, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;
/** Scenario 1's three deliveries wait on the queue before the bot starts, so they arrive in one batch. */
const FLOW_TAG = 'flow1';
// Mentions, markdown and a masked link in attacker-controlled text (scenario 7 checks them).
const FLOW_CMDLINE = `sh -c "echo @everyone <@&${'1'.repeat(18)}> **bold** [click me](https://evil.example/x)" # ${FLOW_TAG}`;
let flowEvent: ReturnType<typeof artifactExecEvent>;
let slowFirstPost: { hits: number };
let botStartedAt: number;

beforeAll(async () => {
  h = await createBotHarness();
  flowEvent = artifactExecEvent(h.node.name, { tag: FLOW_TAG, cmdline: FLOW_CMDLINE });
  await h.sendMany([flowEvent, flowEvent, flowEvent]);
  // Discord makes the first post wait: the two repeats are counted before the incident message exists.
  slowFirstPost = h.discord.injectRateLimit({ method: 'POST', path: `/channels/${h.channelId}/messages`, times: 1, retryAfter: 0.4 });
  botStartedAt = Date.now();
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

const playbooks = loadPlaybookConfig(undefined);

function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, playbooks);
  if (!r.ok) throw new Error(`test event does not triage: ${r.error}`);
  return r.result;
}

function podOf(tag: string): string {
  return `web-${tag}`;
}

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;

/** Messages in the incident channel about the pod `web-<tag>` (incident message and approval). */
function channelMessagesFor(tag: string): APIMessage[] {
  return h.discord.messages(h.channelId).filter((m) => field(m.embeds[0], 'Pod') === `\`${podOf(tag)}\``);
}

const isApproval = (m: APIMessage) => (m.components?.length ?? 0) > 0;

async function approvalMessage(tag: string): Promise<APIMessage> {
  return h.waitForChannelMessage((m) => isApproval(m) && field(m.embeds[0], 'Pod') === `\`${podOf(tag)}\``, 60_000);
}

async function incidentMessage(tag: string): Promise<APIMessage> {
  return h.waitForChannelMessage((m) => !isApproval(m) && field(m.embeds[0], 'Pod') === `\`${podOf(tag)}\``, 60_000);
}

function buttonIds(message: APIMessage): string[] {
  const rows = (message.components ?? []) as unknown as { components?: { custom_id?: string }[] }[];
  return rows.flatMap((row) => row.components ?? []).map((c) => c.custom_id ?? '');
}

function approvalIdOf(message: APIMessage): string {
  const m = /^apv:([A-Za-z0-9_-]+):/.exec(buttonIds(message)[0] ?? '');
  if (!m) throw new Error('not an approval message');
  return m[1]!;
}

function incidentIdOf(message: APIMessage): string {
  const m = /incident (inc-[0-9a-f]+)/.exec(message.embeds[0]?.footer?.text ?? '');
  if (!m) throw new Error('no incident id in the footer');
  return m[1]!;
}

async function executionArnOf(incidentId: string): Promise<string> {
  const state = await waitFor(async () => (await h.bot.context.incidents.get(incidentId))?.executionName ? h.bot.context.incidents.get(incidentId) : undefined, {
    what: 'the incident execution',
  });
  return `${h.stateMachineArn.replace(':stateMachine:', ':execution:')}:${state!.executionName}`;
}

async function history(executionArn: string): Promise<HistoryEvent[]> {
  const out = await h.aws.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return out.events ?? [];
}

/** TaskSucceeded events that carry an approval decision (what the bot sends on Allow/Block). */
function decisionsSent(events: HistoryEvent[]): { action: string; by: string }[] {
  return events
    .filter((e) => e.type === 'TaskSucceeded')
    .map((e) => JSON.parse(e.taskSucceededEventDetails?.output ?? '{}') as { action?: string; by?: string })
    .filter((o): o is { action: string; by: string } => (o.action === 'allow' || o.action === 'block') && typeof o.by === 'string');
}

/** Every string inside a value (for scanning request bodies). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

/** Bodies of every call that creates or edits a message (channel messages, interaction callbacks and webhooks). */
function messageWrites(calls: RecordedCall[]): RecordedCall[] {
  return calls.filter(
    (c) =>
      c.body !== undefined &&
      (c.route === '/channels/:channel_id/messages' ||
        c.route === '/channels/:channel_id/messages/:message_id' ||
        c.route?.startsWith('/webhooks/') ||
        (c.route?.startsWith('/interactions/') && (c.body as { data?: unknown }).data !== undefined)),
  );
}

function payloadOf(call: RecordedCall): Record<string, unknown> {
  const body = call.body as Record<string, unknown>;
  return call.route?.startsWith('/interactions/') ? ((body.data as Record<string, unknown>) ?? {}) : body;
}

function expectWithinDiscordLimits(embeds: APIEmbed[]): void {
  expect(embeds.length).toBeLessThanOrEqual(LIMITS.embeds);
  let total = 0;
  for (const e of embeds) {
    expect((e.title ?? '').length).toBeLessThanOrEqual(LIMITS.embedTitle);
    expect((e.description ?? '').length).toBeLessThanOrEqual(LIMITS.embedDescription);
    expect((e.footer?.text ?? '').length).toBeLessThanOrEqual(LIMITS.footerText);
    expect(e.fields?.length ?? 0).toBeLessThanOrEqual(LIMITS.embedFields);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeLessThanOrEqual(LIMITS.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(LIMITS.fieldValue);
    }
    total += embedSize(e as Record<string, unknown>);
  }
  expect(total).toBeLessThanOrEqual(LIMITS.embedTotal);
}

describe('an approval-route Falco event, from the queue to the report', () => {
  const tag = FLOW_TAG;
  let event: ReturnType<typeof artifactExecEvent>;
  let approval: APIMessage;
  let incident: APIMessage;
  let approvalId: string;
  let incidentId: string;
  let executionArn: string;
  let taskToken: string;

  beforeAll(() => {
    event = flowEvent;
  });

  it('delivered three times: one execution, one incident message, one approval without the task token anywhere', async () => {
    const startedAt = botStartedAt;

    incident = await incidentMessage(tag);
    approval = await approvalMessage(tag);
    incidentId = incidentIdOf(incident);
    approvalId = approvalIdOf(approval);
    // All three deliveries are counted on the one incident.
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === 3 ? true : undefined), { what: 'three deliveries counted' });

    const { dedupeKey } = triageOf(event);
    const executions = (await h.executions()).filter((e) => e.name?.startsWith(dedupeKey));
    expect(executions).toHaveLength(1);
    executionArn = executions[0]!.executionArn!;
    expect(executions[0]!.status).toBe('RUNNING');

    // The repeats show on the incident message, though both were counted before it was posted.
    expect(slowFirstPost.hits).toBe(1);
    const counted = parseLogs(h.logs).filter((l) => l.message === 'repeat counted on the open incident' && l.incidentId === incidentId);
    expect(counted).toHaveLength(2);
    const firstPostAt = h.posted().find((c) => JSON.stringify(c.body).includes(incidentId))!.at;
    for (const l of counted) expect(Date.parse(String(l.timestamp))).toBeLessThan(firstPostAt);
    await waitFor(async () => (field(h.discord.message(incident.id)?.embeds[0], 'Repeats')?.startsWith('seen 3 times') ? true : undefined), {
      what: 'the repeat count on the incident message',
    });

    const posts = h.posted().filter((c) => JSON.stringify(c.body).includes(incidentId));
    expect(posts).toHaveLength(2); // the incident message and the approval, nothing else
    expect(channelMessagesFor(tag).filter((m) => !isApproval(m))).toHaveLength(1);
    expect(channelMessagesFor(tag).filter(isApproval)).toHaveLength(1);

    // The approval: rule, target, who and what, the deadline, the proposed action and its preflight.
    const post = posts.find((c) => ((c.body as { components?: unknown[] }).components?.length ?? 0) > 0)!;
    const body = post.body as { embeds: APIEmbed[]; components: { components: { custom_id: string; label: string; style: number }[] }[]; allowed_mentions: unknown };
    expect(body.allowed_mentions).toEqual({ parse: [] });
    const embed = body.embeds[0]!;
    expect(embed.title).toBe('[MEDIUM] ARTIFACT\\_EXEC');
    expect(field(embed, 'Node')).toBe(`\`${h.node.name}\``);
    expect(field(embed, 'Namespace')).toBe(`\`${POD_NAMESPACE}\``);
    expect(field(embed, 'Pod')).toBe(`\`${podOf(tag)}\``);
    expect(field(embed, 'User')).toBe('`www-data`');
    expect(field(embed, 'Command line')).toMatch(/^```\n[\s\S]*# flow1\n```$/);
    expect(field(embed, 'Proposed action')).toContain('isolate-node');
    expect(field(embed, 'Preflight')).toContain(`would isolate instance ${h.node.instanceId}`);
    const deadline = /^<t:(\d+):R> \(<t:\1:f>\)$/.exec(field(embed, 'Deadline') ?? '');
    expect(deadline).not.toBeNull();
    const deadlineMs = Number(deadline![1]) * 1000;
    expect(deadlineMs).toBeGreaterThanOrEqual(startedAt + 3600_000 - 2000);
    expect(deadlineMs).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect(embed.footer?.text).toContain(`incident ${incidentId}`);
    expectWithinDiscordLimits(body.embeds);

    const buttons = body.components.flatMap((r) => r.components);
    expect(buttons.map((b) => [b.label, b.style])).toEqual([
      ['Allow', 3],
      ['Block', 4],
    ]);
    expect(buttons.map((b) => b.custom_id)).toEqual([`apv:${approvalId}:allow`, `apv:${approvalId}:block`]);
    for (const b of buttons) expect(b.custom_id.length).toBeLessThanOrEqual(LIMITS.customId);

    // The task token is only in the approval store: not in Discord, not in a log line.
    const record = await h.bot.context.approvals.get(approvalId);
    taskToken = record!.taskToken;
    expect(taskToken.length).toBeGreaterThan(0);
    expect(record!.status).toBe('pending');
    const everything = JSON.stringify(h.discord.calls().map((c) => [c.path, c.query, c.body, c.response]));
    expect(everything).not.toContain(taskToken);
    expect(h.logs.join('\n')).not.toContain(taskToken);
    // The incident message went out with mentions off too.
    const incidentPost = posts.find((c) => c !== post)!;
    expect((incidentPost.body as { allowed_mentions: unknown }).allowed_mentions).toEqual({ parse: [] });
    expectWithinDiscordLimits((incidentPost.body as { embeds: APIEmbed[] }).embeds);
  });

  it('refuses a click by a member without the responder role: ephemeral, audited, nothing decided', async () => {
    const before = h.discord.lastSeq;
    const click = h.discord.clickButton({ userId: h.users.bob, messageId: approval.id, customId: `apv:${approvalId}:block` });
    const response = await click.waitForResponse();
    expect(response.type).toBe(4);
    expect(response.ephemeral).toBe(true);
    expect(String(response.data?.content)).toMatch(/not allowed to decide approvals/);
    expect(response.data?.allowed_mentions).toEqual({ parse: [] });

    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ approvalId, outcome: 'refused-unauthorized' });
      return entries.length ? entries : undefined;
    });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ who: `discord:${h.users.bob}`, what: 'approval-block' });

    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('pending');
    // The approval message is not touched (the incident message may get its status edit meanwhile).
    expect(h.discord.calls((c) => c.seq > before && c.method === 'PATCH' && c.path.includes(approval.id))).toEqual([]);
    expect((await h.describeExecution(executionArn)).status).toBe('RUNNING');
    expect(decisionsSent(await history(executionArn))).toEqual([]);
  });

  it('an authorized Block resumes the playbook: node isolated, incident recorded, report posted, execution SUCCEEDED', async () => {
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId}:block` });
    expect((await click.waitForResponse()).type).toBe(6);

    // The approval message shows the decision, with the buttons disabled.
    const edit = await click.waitForEdit(undefined, 30_000);
    const decided = edit.body as { embeds: APIEmbed[]; components: { components: { disabled?: boolean }[] }[]; allowed_mentions: unknown };
    expect(field(decided.embeds[0], 'Decision')).toMatch(new RegExp(`^⛔ Blocked by <@${h.users.alice}>`));
    expect(decided.components.flatMap((r) => r.components).every((b) => b.disabled === true)).toBe(true);
    expect(decided.allowed_mentions).toEqual({ parse: [] });
    expect(field(h.discord.message(approval.id)?.embeds[0], 'Decision')).toMatch(/^⛔ Blocked/);

    const done = await h.finished(executionArn, 90_000);
    expect(done.status).toBe('SUCCEEDED');
    const events = await history(executionArn);
    expect(decisionsSent(events)).toEqual([{ action: 'block', by: `discord:${h.users.alice}`, at: expect.any(String) }]);
    const output = JSON.parse(done.output!) as { decision: { action: string }; results: Record<string, { status: string; details: Record<string, unknown> }> };
    expect(output.decision.action).toBe('block');
    expect(output.results.isolateNode?.status).toBe('succeeded');
    expect(output.results.recordIncident?.status).toBe('succeeded');

    // isolate-node ran against EC2: the instance's ENIs are on the isolation group, and only there.
    const groupId = (output.results.isolateNode!.details.isolationGroup as { groupId: string }).groupId;
    expect(groupId).toMatch(/^sg-/);
    const enis = await h.aws.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
    expect((enis.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId).sort()).toEqual([...h.node.networkInterfaceIds].sort());
    expect(enis.NetworkInterfaces?.every((n) => n.Attachment?.InstanceId === h.node.instanceId)).toBe(true);

    // record-incident wrote incidents/{start}/{execution}.json with the action and the decision.
    const state = await h.bot.context.incidents.get(incidentId);
    const key = `incidents/${new Date(state!.firstSeen).toISOString()}/${state!.executionName}.json`;
    expect(output.results.recordIncident!.details.key).toBe(key);
    const object = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
    const recorded = JSON.parse(await object.Body!.transformToString()) as { incidentId: string; actions: { action: string; status: string }[]; decisions: { decision: string; by: string }[] };
    expect(recorded.incidentId).toBe(incidentId);
    expect(recorded.actions).toEqual([expect.objectContaining({ action: 'isolate-node', status: 'succeeded' })]);
    expect(recorded.decisions).toEqual([expect.objectContaining({ decision: 'block', by: `discord:${h.users.alice}` })]);

    // Report: the incident message itself becomes the report.
    const report = await waitFor(async () => {
      const m = h.discord.message(incident.id);
      return m?.embeds[0]?.title?.startsWith('Report: ') ? m : undefined;
    });
    expect(report.embeds[0]?.description).toMatch(/✅ completed — 2 action\(s\), 1 decision\(s\)/);
    expect(field(report.embeds[0], 'Record')).toBe(`\`s3://${h.bucket}/${key}\``);
    expect(JSON.stringify(report.embeds)).toContain('isolate-node');
    expect(JSON.stringify(report.embeds)).toContain(`<@${h.users.alice}>`);
    // The status is final once the report is recorded (the message above shows it).
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.status === 'done' ? true : undefined), { what: 'incident done' });
    const audit = await h.bot.context.audit.readAudit({ approvalId, outcome: 'decided' });
    expect(audit).toHaveLength(1);

    // Still no task token anywhere, after the whole flow.
    expect(JSON.stringify(h.discord.calls().map((c) => [c.path, c.query, c.body, c.response]))).not.toContain(taskToken);
    expect(h.logs.join('\n')).not.toContain(taskToken);
  });

  it('keeps mentions and markdown of the event inert in every request body', async () => {
    const writes = messageWrites(h.discord.calls()).filter((c) => JSON.stringify(c.body).includes(tag));
    // incident message, approval, the decision edit, the report edit
    expect(writes.length).toBeGreaterThanOrEqual(4);
    for (const call of writes) {
      const payload = payloadOf(call);
      expect(payload.allowed_mentions, `${call.method} ${call.path}`).toEqual({ parse: [] });
      for (const s of strings(payload)) {
        expect(s).not.toMatch(/@(everyone|here)/);
        // The attacker's text is shown only inside a code block (where nothing renders) …
        if (s.includes('**bold**') || s.includes('<@&') || s.includes('[click me](')) expect(s).toMatch(/^```\n[\s\S]*\n```$/);
      }
    }
    // … and the code block shows it, with @everyone broken by a zero-width space.
    const shown = strings(payloadOf(writes[0]!)).find((s) => s.includes('**bold**'));
    expect(shown).toContain('@\u200beveryone');
    expect(shown).toContain(`<@&${'1'.repeat(18)}>`);
  });

  it('a repeat after the report is counted, and the report stays (only its counter changes)', async () => {
    const seq = h.discord.lastSeq;
    await h.send(event);
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === 4 ? true : undefined), { what: 'the late repeat counted' });
    // The counter inside the report is updated; the message stays the report.
    await waitFor(async () => (field(h.discord.message(incident.id)?.embeds[0], 'Repeats') === 'seen 4 times' ? true : undefined), { what: 'the count inside the report' });
    const edits = h.discord.calls((c) => c.seq > seq && c.method === 'PATCH' && c.path.endsWith(`/messages/${incident.id}`));
    expect(edits.length).toBeGreaterThanOrEqual(1);
    for (const e of edits) expect((e.body as { embeds: APIEmbed[] }).embeds[0]?.title).toMatch(/^Report: /);
    expect(h.discord.message(incident.id)?.embeds[0]?.title).toMatch(/^Report: /);
    const { dedupeKey } = triageOf(event);
    expect((await h.executions()).filter((e) => e.name?.startsWith(dedupeKey))).toHaveLength(1);
  });
});

describe('approvals whose task no longer waits', () => {
  it('an approval request with a token Step Functions does not know: the click is shown as not applied', async () => {
    const tag = 'bogus';
    const triage = triageOf(artifactExecEvent(h.node.name, { tag }));
    const incidentId = 'inc-bogus-token-test';
    await h.sendControl({
      kind: 'approval-request',
      taskToken: `bogus-${Date.now()}-0000-4000-8000-000000000000`,
      incident: { incidentId, triage },
      proposedAction: { action: 'isolate-node', input: { node: h.node.name } },
    });
    const approval = await approvalMessage(tag);
    const approvalId = approvalIdOf(approval);

    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId}:block` });
    expect((await click.waitForResponse()).type).toBe(6);
    const edit = await click.waitForEdit(undefined, 30_000);
    const body = edit.body as { embeds: APIEmbed[]; components: { components: { disabled?: boolean }[] }[] };
    const decision = field(body.embeds[0], 'Decision') ?? '';
    expect(decision).toMatch(/^❌ Not applied by /);
    expect(decision).toContain('no longer waits for this decision (InvalidToken)');
    expect(body.components.flatMap((r) => r.components).every((b) => b.disabled)).toBe(true);

    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('failed');
    // Audited once the click's reply is sent.
    await waitFor(async () => ((await h.bot.context.audit.readAudit({ approvalId, outcome: 'not-applied' })).length > 0 ? true : undefined), { what: 'the not-applied audit entry' });
    expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'not-applied' })).toHaveLength(1);
    expect(h.bot.client.isReady()).toBe(true);
  });

  it('an execution that finished before the click: not applied, and the bot goes on', async () => {
    // (moto keeps an execution waiting for a task token RUNNING after StopExecution, and accepts the
    // token afterwards, so "stopped" cannot be shown here; a finished execution can.)
    const tag = 'finished';
    await h.send(artifactExecEvent(h.node.name, { tag }));
    const approval = await approvalMessage(tag);
    const approvalId = approvalIdOf(approval);
    const executionArn = await executionArnOf(incidentIdOf(approval));
    // Resumed elsewhere (another replica, an operator, the default decision): the execution ends.
    const { taskToken } = (await h.bot.context.approvals.get(approvalId))!;
    await h.aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ action: 'allow', by: 'timeout', at: new Date().toISOString() }) }));
    expect((await h.finished(executionArn, 90_000)).status).toBe('SUCCEEDED');

    const click = h.discord.clickButton({ userId: h.users.carol, messageId: approval.id, customId: `apv:${approvalId}:block` });
    expect((await click.waitForResponse()).type).toBe(6);
    const edit = await click.waitForEdit(undefined, 30_000);
    const decision = field((edit.body as { embeds: APIEmbed[] }).embeds[0], 'Decision') ?? '';
    expect(decision).toMatch(new RegExp(`^❌ Not applied by <@${h.users.carol}>`));
    expect(decision).toContain('no longer waits for this decision');
    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('failed');
    expect(decisionsSent(await history(executionArn))).toEqual([{ action: 'allow', by: 'timeout', at: expect.any(String) }]);
    const failures = parseLogs(h.logs).filter((l) => l.message === 'decision could not be applied' && l.approvalId === approvalId);
    expect(failures).toHaveLength(1);
    expect(h.bot.client.isReady()).toBe(true);
  });
});

describe('two responders click at the same time', () => {
  it('exactly one decision reaches Step Functions; the other is told who decided', async () => {
    const tag = 'race';
    await h.send(artifactExecEvent(h.node.name, { tag }));
    const approval = await approvalMessage(tag);
    const approvalId = approvalIdOf(approval);
    const executionArn = await executionArnOf(incidentIdOf(approval));

    const clicks = [
      h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId}:allow` }),
      h.discord.clickButton({ userId: h.users.carol, messageId: approval.id, customId: `apv:${approvalId}:allow` }),
    ];
    for (const c of clicks) expect((await c.waitForResponse()).type).toBe(6);

    const done = await h.finished(executionArn, 90_000);
    expect(done.status).toBe('SUCCEEDED');
    const sent = decisionsSent(await history(executionArn));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.action).toBe('allow');
    const winner = sent[0]!.by.replace('discord:', '');
    expect([h.users.alice, h.users.carol]).toContain(winner);

    const loser = clicks.find((c) => c.payload.member && (c.payload.member as { user: { id: string } }).user.id !== winner)!;
    const told = await loser.waitForFollowUp(undefined, 30_000);
    expect(told.content).toBe(`Already decided (allow) by <@${winner}>.`);
    expect(told.flags! & 64).toBe(64);
    expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'decided' })).toHaveLength(1);
    expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'already-decided' })).toHaveLength(1);
    // Allow: no isolation step ran.
    expect(Object.keys((JSON.parse(done.output!) as { results: object }).results).sort()).toEqual(['recordIncident']);
  });
});

describe('an event storm', () => {
  it('repeats within the window start nothing and post nothing; the counter is edited at a bounded rate', async () => {
    const tag = 'storm';
    const event = artifactExecEvent(h.node.name, { tag });
    await h.send(event);
    const incident = await incidentMessage(tag);
    await approvalMessage(tag);
    const incidentId = incidentIdOf(incident);
    const postsAbout = () => h.posted().filter((c) => JSON.stringify(c.body).includes(incidentId)).length;
    expect(postsAbout()).toBe(2); // the incident message and its approval
    const seq = h.discord.lastSeq;
    const started = Date.now();

    const repeats = 24;
    await h.sendMany(Array.from({ length: repeats }, () => event));
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === repeats + 1 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'every repeat counted',
    });
    // The last state is always shown in the end.
    await waitFor(async () => (field(h.discord.message(incident.id)?.embeds[0], 'Repeats')?.startsWith(`seen ${repeats + 1} times`) ? true : undefined), {
      timeoutMs: 15_000,
      what: 'the final count on the incident message',
    });
    const elapsedS = (Date.now() - started) / 1000;

    const edits = h.discord.calls((c) => c.seq > seq && c.method === 'PATCH' && c.path === `/channels/${h.channelId}/messages/${incident.id}`);
    expect(edits.length).toBeGreaterThanOrEqual(1);
    // SENTINEL_EDIT_INTERVAL_SECONDS=1: at most one edit a second (plus the first, sent at once).
    expect(edits.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    expect(edits.length).toBeLessThan(repeats);
    for (let i = 1; i < edits.length; i += 1) expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(700);

    expect(postsAbout()).toBe(2);
    expect(channelMessagesFor(tag)).toHaveLength(2);
    const { dedupeKey } = triageOf(event);
    expect((await h.executions()).filter((e) => e.name?.startsWith(dedupeKey))).toHaveLength(1);
  });
});
