/**
 * Every playbook in deploy/statemachines run for real through the bot: moto's Step Functions
 * executes the state machines, the real bot (startBot) consumes the queue and runs each step's
 * pipeline action against moto (EC2, S3, SSM, CloudTrail), the fake Kubernetes API (pod exec) and
 * the fake Discord. Nothing in the bot is replaced.
 *
 * Each harness (queue, state machines, instance, bot) serves scenarios that cannot disturb one
 * another; the scenarios run concurrently, each with its own events, incidents and executions.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DescribeInstancesCommand, DescribeNetworkAclsCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, type DescribeExecutionCommandOutput, type HistoryEvent } from '@aws-sdk/client-sfn';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredApprovals } from '../../src/bot/sweepExpiredApprovals.js';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import {
  artifactExecEvent,
  createBotHarness,
  parseLogs,
  POD_CONTAINER,
  POD_FILE,
  POD_FILE_CONTENT,
  POD_NAME,
  POD_NAMESPACE,
  type BotHarness,
  type BotHarnessOptions,
} from '../helpers/botHarness.js';
import { fluentBitLine, guardDutyEvent, kv, reverseShellLine } from '../helpers/events.js';
import { waitFor } from '../support/aws.js';

const playbooks = loadPlaybookConfig(undefined);

function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, playbooks);
  if (!r.ok) throw new Error(`test event does not triage: ${r.error}`);
  return r.result;
}

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const isApproval = (m: APIMessage) => (m.components?.length ?? 0) > 0;

function buttonIds(message: APIMessage): string[] {
  const rows = (message.components ?? []) as unknown as { components?: { custom_id?: string; disabled?: boolean }[] }[];
  return rows.flatMap((row) => row.components ?? []).map((c) => c.custom_id ?? '');
}

function approvalIdOf(message: APIMessage): string {
  const m = /^apv:([A-Za-z0-9_-]+):/.exec(buttonIds(message)[0] ?? '');
  if (!m) throw new Error('not an approval message');
  return m[1]!;
}

/** A public address (TEST-NET-3): deny-egress refuses private and special ranges. */
function attackerIp(): string {
  const [a, b] = [...randomBytes(2)];
  return `203.0.113.${(a! ^ b!) % 250 + 2}`;
}

interface Flow {
  executionArn: string;
  executionName: string;
  incidentId: string;
  startTime: string;
}

/** The one execution of `stateMachineArn` started for this triage (named from its dedupe key). */
async function executionOf(h: BotHarness, triage: TriageResult, stateMachineArn = h.stateMachineArn): Promise<Flow> {
  const prefix = executionNameFor(triage.dedupeKey, new Date(0)).replace(/-0$/, '');
  const listed = await waitFor(
    async () => {
      const found = (await h.executions(stateMachineArn)).filter((e) => e.name?.startsWith(prefix));
      return found.length ? found : undefined;
    },
    { timeoutMs: 90_000, what: `the execution for ${triage.rule}` },
  );
  if (listed.length !== 1) throw new Error(`${listed.length} executions for ${triage.dedupeKey}`);
  const d = await h.describeExecution(listed[0]!.executionArn!);
  const input = JSON.parse(d.input!) as { incidentId: string; executionName: string; startTime: string };
  return { executionArn: listed[0]!.executionArn!, executionName: input.executionName, incidentId: input.incidentId, startTime: input.startTime };
}

async function history(h: BotHarness, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const out = await h.aws.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }));
    events.push(...(out.events ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return events;
}

/** The states the execution entered, in order. */
function statesEntered(events: HistoryEvent[]): string[] {
  return events.filter((e) => e.stateEnteredEventDetails?.name).map((e) => e.stateEnteredEventDetails!.name!);
}

type Result = { action?: string; status: string; summary: string; details: Record<string, unknown>; error?: { Error?: string } };
interface PlaybookOutput {
  incidentId: string;
  decision?: { action: string; by: string; at?: string };
  waiver?: { action: string; by: string };
  memory?: { captured?: boolean; waivedBy?: string };
  error?: { Error: string; Cause?: string | null };
  results: Record<string, Result>;
}

async function finishedOk(h: BotHarness, executionArn: string, timeoutMs = 120_000): Promise<{ done: DescribeExecutionCommandOutput; output: PlaybookOutput }> {
  const done = await h.finished(executionArn, timeoutMs);
  if (done.status !== 'SUCCEEDED') throw new Error(`execution ended ${done.status}: ${done.error ?? ''} ${done.cause ?? ''}`);
  return { done, output: JSON.parse(done.output!) as PlaybookOutput };
}

interface RecordedIncident {
  incidentId: string;
  executionName: string;
  route: string;
  actions: { action: string; status: string; summary: string; details: Record<string, unknown> }[];
  decisions: { decision: string; by: string; action?: string }[];
  manifest: { kind: string; location: string; sha256?: string; size?: number }[];
  error?: { error: string };
}

/** The incident JSON record-incident wrote at incidents/{start}/{execution}.json. */
async function recordedIncident(h: BotHarness, flow: Flow, output: PlaybookOutput): Promise<{ key: string; record: RecordedIncident }> {
  const key = `incidents/${new Date(flow.startTime).toISOString()}/${flow.executionName}.json`;
  expect(output.results.recordIncident?.status).toBe('succeeded');
  expect(output.results.recordIncident?.details.key).toBe(key);
  const object = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
  const record = JSON.parse(await object.Body!.transformToString()) as RecordedIncident;
  expect(record.incidentId).toBe(flow.incidentId);
  expect(record.executionName).toBe(flow.executionName);
  return { key, record };
}

/** The incident message, once the report has replaced it, and the incident's final status. */
async function reportOf(h: BotHarness, flow: Flow, timeoutMs = 90_000): Promise<{ report: APIMessage; status: string }> {
  // The status is final once the report is recorded; the outbox shows the report on the message right after.
  const state = await waitFor(
    async () => {
      const s = await h.bot.context.incidents.get(flow.incidentId);
      if (s?.status !== 'done' && s?.status !== 'failed') return undefined;
      return s.messageId && h.discord.message(s.messageId)?.embeds[0]?.title?.startsWith('Report: ') ? s : undefined;
    },
    { timeoutMs, what: `the report of ${flow.incidentId}` },
  );
  const report = h.discord.message(state.messageId!);
  if (!report) throw new Error('the incident message is gone');
  return { report, status: state.status };
}

/** Channel messages (not thread follow-ups) the bot posted about an incident. */
function postsAbout(h: BotHarness, incidentId: string) {
  return h.posted().filter((c) => c.path === `/channels/${h.channelId}/messages` && JSON.stringify(c.body).includes(incidentId));
}

async function approvalFor(h: BotHarness, incidentId: string, action: string): Promise<APIMessage> {
  return h.waitForChannelMessage((m) => isApproval(m) && (m.embeds[0]?.footer?.text ?? '').includes(incidentId) && JSON.stringify(m.embeds).includes(action), 90_000);
}

async function groupsOfEnis(h: BotHarness): Promise<Record<string, string[]>> {
  const out = await h.aws.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: h.node.networkInterfaceIds }));
  return Object.fromEntries((out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!).sort()]));
}

async function enisInGroup(h: BotHarness, groupId: string): Promise<string[]> {
  const out = await h.aws.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (out.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).sort();
}

/** Generous for CI under load: alone, the scenarios take 3-15 s, the forensics one about 45 s. */
const TEST_TIMEOUT_MS = 240_000;
const FORENSICS_TIMEOUT_MS = 360_000;

const harnesses: BotHarness[] = [];
async function harness(options: BotHarnessOptions = {}, start = true): Promise<BotHarness> {
  const h = await createBotHarness(options);
  harnesses.push(h);
  if (start) await h.start();
  return h;
}

afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
});

// The default settings: default decision allow, approvals wait an hour.
let main: BotHarness;
// No answer within 4 s applies SENTINEL_APPROVAL_DEFAULT_DECISION (block, or allow). Their bots
// start in the test: the bot's own sweeper first runs 30 s after start, and the test runs the sweep.
let timeoutBlock: BotHarness;
let timeoutAllow: BotHarness;
// GuardDuty through EventBridge, all three state machines, isolation that would stop the instance.
let forensics: BotHarness;
// Discord answers 503 to the report edit: its own harness, so no other edit meets the injection.
let flaky: BotHarness;

beforeAll(async () => {
  [main, timeoutBlock, timeoutAllow, forensics, flaky] = await Promise.all([
    harness(),
    harness({ approvalTimeoutSeconds: 4, env: { SENTINEL_APPROVAL_DEFAULT_DECISION: 'block' } }, false),
    harness({ approvalTimeoutSeconds: 4, env: { SENTINEL_APPROVAL_DEFAULT_DECISION: 'allow' } }, false),
    harness({ allStateMachines: true, eventBus: true, env: { SENTINEL_ISOLATE_STOP_INSTANCE: 'true' } }),
    harness(),
  ]);
});

describe.concurrent('playbooks run by moto through the bot', () => {
  // First, so it starts at once: it is the longest (about 35 s of it is moto sleeping between the
  // retries of pull-cloudtrail, see below).
  it('a GuardDuty EC2 finding through EventBridge runs the forensics playbook through the bot, as far as moto allows', { timeout: FORENSICS_TIMEOUT_MS }, async ({ expect }) => {
    const h = forensics;
    const remoteIp = '198.51.100.23';
    const findingId = `gd${randomBytes(8).toString('hex')}`;
    const finding = guardDutyEvent({ id: findingId, instanceId: h.node.instanceId, remoteIp, remotePort: 443, severity: 8.5 });
    // The finding is about the harness instance (the factory's ENI describes another one).
    const eni = (finding.detail.resource as { instanceDetails: { networkInterfaces: Record<string, string>[] } }).instanceDetails.networkInterfaces[0]!;
    Object.assign(eni, { privateDnsName: h.node.name, privateIpAddress: h.node.privateIp, subnetId: h.node.subnetId, vpcId: h.node.vpcId });
    const triage = triageOf(finding);
    expect(triage.route).toBe('forensics');
    expect(triage.target.instanceId).toBe(h.node.instanceId);
    // Below the rule's numeric threshold: EventBridge must not deliver it (the bot would log it as ignored).
    const low = guardDutyEvent({ id: `gd${randomBytes(8).toString('hex')}`, instanceId: h.node.instanceId, severity: 5 });
    expect(triageOf(low).route).toBe('ignore');
    const before = await groupsOfEnis(h);
    await h.putEvents([
      { source: 'aws.guardduty', detailType: 'GuardDuty Finding', detail: low.detail },
      { source: 'aws.guardduty', detailType: 'GuardDuty Finding', detail: finding.detail },
    ]);

    // Route forensics: an execution of the forensics state machine (none of the others), named from the finding.
    const flow = await executionOf(h, triage, h.stateMachines.forensics!);
    expect(await h.executions(h.stateMachines.falco)).toEqual([]);
    expect(await h.executions(h.stateMachines.notify!)).toEqual([]);

    // capture-memory fails (no SENTINEL_LIME_BUCKET: its step input has no module bucket, refused as
    // sentinel.InvalidInput), so the waiver is asked. Block keeps the capture required.
    const waiver = await approvalFor(h, flow.incidentId, 'waive-memory-capture');
    expect(JSON.stringify(waiver.embeds)).toContain(h.node.instanceId);
    const click = h.discord.clickButton({ userId: h.users.carol, messageId: waiver.id, customId: `apv:${approvalIdOf(waiver)}:block` });
    expect((await click.waitForResponse()).type).toBe(6);

    const { output } = await finishedOk(h, flow.executionArn, 240_000);
    const events = await history(h, flow.executionArn);
    // Every step in the playbook's order ("Artifact" is the Map's per-item state, once per volatile output).
    expect(statesEntered(events).filter((s) => s !== 'Artifact')).toEqual([
      'Notify', 'CheckRemoteIp', 'DenyEgress', 'AddMaliciousIp', 'CheckInstance',
      'CollectVolatile', 'CaptureMemory', 'CaptureMemoryFailed', 'AskWaiver', 'CheckWaiver', 'NotWaived',
      'PreserveDisk', 'IsolateInstance', 'StopRefused', 'IsolateNetworkOnly',
      'CheckCollectDisk', 'NoForensicInstance', 'PullCloudTrail', 'PullCloudTrailFailed',
      'CheckCloudTrailArtifact', 'CheckVolatileArtifacts', 'VolatileArtifacts', 'CheckDiskArtifacts',
      'ChooseArtifacts', 'ListArtifacts', 'FlattenArtifacts', 'Analyse', 'RecordIncident', 'Report',
    ]);
    const r = output.results;
    const statuses = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.status]));
    expect(statuses).toEqual({
      denyEgress: 'succeeded',
      addMaliciousIp: 'succeeded',
      collectVolatile: 'succeeded',
      captureMemory: 'failed',
      preserveDisk: 'succeeded',
      isolateInstance: 'skipped',
      isolateNetworkOnly: 'succeeded',
      collectDisk: 'skipped',
      pullCloudTrail: 'failed',
      analyse: 'succeeded',
      recordIncident: 'succeeded',
    });

    // EventBridge delivered the finding and not the low one: one event handled, nothing ignored.
    const logs = parseLogs(h.logs);
    expect(logs.filter((l) => l.message === 'playbook started').map((l) => l.route)).toEqual(['forensics']);
    expect(logs.filter((l) => l.message === 'event ignored by triage' || l.message === 'event refused')).toEqual([]);

    // The alert: the notify step turned the incident message into the finding's alert; then the
    // waiver was posted, and the report replaced the alert. Nothing else was written to the channel.
    const channelWrites = h.discord.calls((c) => c.method !== 'GET' && c.path.startsWith(`/channels/${h.channelId}/messages`));
    const incidentMessageId = (await h.bot.context.incidents.get(flow.incidentId))!.messageId!;
    expect(channelWrites.map((c) => [c.method, c.path, c.status])).toEqual([
      ['POST', `/channels/${h.channelId}/messages`, 200],
      ['PATCH', `/channels/${h.channelId}/messages/${incidentMessageId}`, 200],
      ['POST', `/channels/${h.channelId}/messages`, 200],
      ['PATCH', `/channels/${h.channelId}/messages/${incidentMessageId}`, 200],
    ]);
    const alert = (channelWrites[1]!.body as { embeds: APIEmbed[] }).embeds[0];
    expect(field(alert, 'Severity score')).toBe('8.5 / 10');
    expect(field(alert, 'Finding id')).toBe(`\`${findingId}\``);
    expect((channelWrites[2]!.response as { id: string }).id).toBe(waiver.id);

    // The remote address: denied in the instance's subnet NACL and listed as malicious.
    expect(r.denyEgress!.details).toMatchObject({ ip: remoteIp, port: 443, created: true });
    expect(r.addMaliciousIp!.details.location).toBe(`s3://${h.bucket}/intel/malicious-ips.json`);

    // moto's SSM runs nothing: every command "succeeds" with empty output. collect-volatile stores
    // what SSM returned, and says so: 12 items of 0 bytes (sha256 of nothing), not invented content.
    const items = r.collectVolatile!.details.items as { status: string; size: number; sha256: string }[];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item).toMatchObject({ status: 'succeeded', size: 0, sha256: sha256('') });

    // Memory: not captured, not waived (Block), so the bot refused the stop and the network alone was isolated.
    expect(r.captureMemory!.error?.Error).toBe('sentinel.InvalidInput');
    expect(output.waiver).toMatchObject({ action: 'block', by: `discord:${h.users.carol}` });
    expect(output.memory).toEqual({ captured: false });
    expect(r.isolateInstance!.error?.Error).toBe('sentinel.MemoryNotPreserved');
    expect(r.isolateNetworkOnly!.details).toMatchObject({ instanceId: h.node.instanceId, stopped: false, destroysMemory: false });
    const groupId = (r.isolateNetworkOnly!.details.isolationGroup as { groupId: string }).groupId;
    expect(await enisInGroup(h, groupId)).toEqual([...h.node.networkInterfaceIds].sort());
    expect(await groupsOfEnis(h)).not.toEqual(before);
    const described = await h.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [h.node.instanceId] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');
    // preserve-disk snapshotted the root volume (moto completes snapshots at once).
    expect((r.preserveDisk!.details.snapshots as unknown[]).length).toBeGreaterThan(0);

    // CloudTrail LookupEvents is not implemented in moto (HTTP 500, an HTML page): a 500 is
    // transient, so the playbook retries (5 + 10 + 20 s of moto sleeping); moto resends the task on
    // each attempt, the bot runs it four times, then the Catch records the failure and goes on.
    expect(events.filter((e) => e.type === 'TaskFailed').map((e) => e.taskFailedEventDetails?.error)).toEqual([
      'sentinel.InvalidInput',
      'sentinel.MemoryNotPreserved',
      'sentinel.Transient',
      'sentinel.Transient',
      'sentinel.Transient',
      'sentinel.Transient',
    ]);
    expect(logs.filter((l) => l.action === 'pull-cloudtrail' && l.message === 'action failed' && l.code === 'LookupEventsFailed')).toHaveLength(4);

    const { key, record } = await recordedIncident(h, flow, output);
    expect(record.route).toBe('forensics');
    expect(record.decisions).toEqual([expect.objectContaining({ decision: 'block', action: 'waive-memory-capture', by: `discord:${h.users.carol}` })]);
    expect(record.actions.filter((a) => a.status === 'failed').map((a) => a.action)).toEqual(['capture-memory', 'pull-cloudtrail']);

    // The report lists the failures; the incident ends failed.
    const { report, status } = await reportOf(h, flow);
    expect(status).toBe('failed');
    expect(report.id).toBe(incidentMessageId);
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(report.embeds[0]?.description).toMatch(/❌ failed \(2 action\(s\) failed\)/);
    const shown = JSON.stringify(report.embeds);
    expect(shown).toContain('❌ `capture-memory`');
    expect(shown).toContain('❌ `pull-cloudtrail`');
    expect(shown).toContain('⏭️ `isolate-node` stopping the instance was refused');
    expect(field(report.embeds[0], 'Record')).toBe(`\`s3://${h.bucket}/${key}\``);
  });

  it('a reverse shell: egress deny rule below the first allow, incident recorded in S3, report in place of the incident message', { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
    const h = main;
    const ip = attackerIp();
    const event = fluentBitLine(reverseShellLine({ ip, port: 4444, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' });
    const triage = triageOf(event);
    expect(triage.route).toBe('block-egress');
    expect(triage.target.node).toBe(h.node.name);
    await h.send(event);

    const flow = await executionOf(h, triage);
    const { output } = await finishedOk(h, flow.executionArn);
    expect(statesEntered(await history(h, flow.executionArn))).toEqual(['Route', 'DenyEgress', 'RecordIncident', 'Report']);

    // deny-egress: a TCP deny for the attacker in the network ACL of the node's subnet, below every egress allow.
    const deny = output.results.denyEgress!;
    expect(deny.status).toBe('succeeded');
    const acls = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
    const acl = acls.NetworkAcls!.find((a) => a.Associations?.some((s) => s.SubnetId === h.node.subnetId))!;
    expect(acl.NetworkAclId).toBe(deny.details.naclId);
    const egress = (acl.Entries ?? []).filter((e) => e.Egress);
    const rule = egress.find((e) => e.CidrBlock === `${ip}/32`);
    expect(rule).toMatchObject({ RuleAction: 'deny', RuleNumber: deny.details.ruleNumber });
    expect(['6', 'tcp']).toContain(rule!.Protocol);
    expect(rule!.PortRange).toEqual({ From: 4444, To: 4444 });
    const firstAllow = Math.min(...egress.filter((e) => e.RuleAction === 'allow').map((e) => e.RuleNumber!));
    expect(Number.isFinite(firstAllow)).toBe(true);
    expect(rule!.RuleNumber!).toBeLessThan(firstAllow);
    expect(deny.details.firstAllow).toBe(firstAllow);

    // record-incident: incidents/{start}/{execution}.json with the deny in it.
    const { key, record } = await recordedIncident(h, flow, output);
    expect(record.route).toBe('block-egress');
    expect(record.actions).toEqual([expect.objectContaining({ action: 'deny-egress', status: 'succeeded' })]);

    // The report: the incident message itself, edited; no second message in the channel.
    const { report, status } = await reportOf(h, flow);
    expect(status).toBe('done');
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(report.embeds[0]?.description).toMatch(/✅ completed/);
    expect(field(report.embeds[0], 'Record')).toBe(`\`s3://${h.bucket}/${key}\``);
    expect(JSON.stringify(report.embeds)).toContain('deny-egress');
    expect(JSON.stringify(report.embeds)).toContain(ip);
    expect(postsAbout(h, flow.incidentId)).toHaveLength(1);
  });

  it('an approval answered Allow: nothing is isolated (no isolate-node step, ENIs keep their groups); recorded and reported', { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
    const h = main;
    const before = await groupsOfEnis(h);
    const event = artifactExecEvent(h.node.name, { tag: 'allow-click' });
    const triage = triageOf(event);
    expect(triage.route).toBe('approval');
    await h.send(event);

    const flow = await executionOf(h, triage);
    const approval = await approvalFor(h, flow.incidentId, 'isolate-node');
    const approvalId = approvalIdOf(approval);
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId}:allow` });
    expect((await click.waitForResponse()).type).toBe(6);

    const { output } = await finishedOk(h, flow.executionArn);
    expect(output.decision).toMatchObject({ action: 'allow', by: `discord:${h.users.alice}` });
    expect(Object.keys(output.results)).toEqual(['recordIncident']);
    const events = await history(h, flow.executionArn);
    expect(statesEntered(events)).toEqual(['Route', 'AskApproval', 'CheckDecision', 'RecordIncident', 'Report']);
    // isolate-node ran once, as the approval's preflight (a dry run); the ENIs keep their groups.
    const isolateRuns = parseLogs(h.logs).filter((l) => l.action === 'isolate-node' && l.message === 'action finished' && l.incidentId === flow.incidentId);
    expect(isolateRuns.map((l) => [l.actor, l.dryRun])).toEqual([['sentinel:preflight', true]]);
    expect(await groupsOfEnis(h)).toEqual(before);

    const { record } = await recordedIncident(h, flow, output);
    expect(record.actions.map((a) => a.action)).toEqual([]);
    expect(record.decisions).toEqual([expect.objectContaining({ decision: 'allow', by: `discord:${h.users.alice}` })]);
    const { report, status } = await reportOf(h, flow);
    expect(status).toBe('done');
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(JSON.stringify(report.embeds)).toContain(`<@${h.users.alice}>`);
    expect(JSON.stringify(report.embeds)).not.toContain('isolate-node');
  });

  for (const [decision, getHarness] of [
    ['block', () => timeoutBlock],
    ['allow', () => timeoutAllow],
  ] as const) {
    it(`an approval nobody answers: the state machine's timeout applies the default decision (${decision}) and the sweeper marks the approval expired`, { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
      const h = getHarness();
      await h.start();
      expect(h.config.bot.approvalDefaultDecision).toBe(decision);
      expect(h.config.bot.approvalTimeoutSeconds).toBe(4);
      const before = await groupsOfEnis(h);
      const event = artifactExecEvent(h.node.name, { tag: `timeout-${decision}` });
      await h.send(event);
      const flow = await executionOf(h, triageOf(event));
      const approval = await approvalFor(h, flow.incidentId, 'isolate-node');
      const approvalId = approvalIdOf(approval);
      const pending = (await h.bot.context.approvals.get(approvalId))!;
      expect(pending.status).toBe('pending');
      // The deadline is the state machine's: 4 s from when AskApproval asked (requestedAt), not from
      // when the bot got round to the message.
      const asked = (await history(h, flow.executionArn)).find((e) => e.type === 'TaskScheduled')!;
      const body = (JSON.parse(asked.taskScheduledEventDetails!.parameters!) as { MessageBody: { kind: string; timeoutSeconds: number; requestedAt: string } }).MessageBody;
      expect(body).toMatchObject({ kind: 'approval-request', timeoutSeconds: 4 });
      expect(pending.deadline).toBe(new Date(Date.parse(body.requestedAt) + 4000).toISOString());
      expect(Date.parse(pending.deadline)).toBeLessThan(Date.parse(pending.createdAt) + 4000);
      expect(field(approval.embeds[0], 'Deadline')).toContain(`<t:${Math.floor(Date.parse(pending.deadline) / 1000)}:R>`);

      // Nobody answers: the task times out in Step Functions.
      await waitFor(async () => ((await history(h, flow.executionArn)).some((e) => e.type === 'TaskTimedOut') ? true : undefined), {
        timeoutMs: 90_000,
        what: 'the approval task to time out',
      });
      // The sweeper (run now rather than on its 30 s timer) marks the approval expired on its message.
      expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('pending');
      expect(await sweepExpiredApprovals(h.bot.context)).toBe(1);
      expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('expired');
      // The outbox's sender edits the message (the sweeper records the change; nothing waits on Discord).
      const shown = await waitFor(async () => {
        const m = h.discord.message(approval.id);
        return m && field(m.embeds[0], 'Decision') ? m : undefined;
      }, { timeoutMs: 30_000, what: 'the approval message edited to show it expired' });
      expect(field(shown.embeds[0], 'Decision')).toMatch(/^⌛ Expired/);
      expect(JSON.stringify(shown.embeds)).toContain(`the playbook applied the default decision (${decision})`);
      const rows = (shown.components ?? []) as unknown as { components: { disabled?: boolean }[] }[];
      expect(rows.flatMap((r) => r.components).every((b) => b.disabled === true)).toBe(true);
      expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'expired' })).toHaveLength(1);
      // A second sweep finds nothing left to expire.
      expect(await sweepExpiredApprovals(h.bot.context)).toBe(0);

      // The playbook applied the default decision.
      const { output } = await finishedOk(h, flow.executionArn);
      const events = await history(h, flow.executionArn);
      expect(output.decision).toMatchObject({ action: decision, by: 'timeout' });
      if (decision === 'block') {
        expect(statesEntered(events)).toEqual(['Route', 'AskApproval', 'ApplyDefaultDecision', 'CheckDecision', 'IsolateNode', 'RecordIncident', 'Report']);
        const isolate = output.results.isolateNode!;
        expect(isolate.status).toBe('succeeded');
        const groupId = (isolate.details.isolationGroup as { groupId: string }).groupId;
        expect(groupId).toMatch(/^sg-/);
        expect(await enisInGroup(h, groupId)).toEqual([...h.node.networkInterfaceIds].sort());
        expect(await groupsOfEnis(h)).not.toEqual(before);
        expect(isolate.details.stopped).toBe(false);
      } else {
        expect(statesEntered(events)).toEqual(['Route', 'AskApproval', 'ApplyDefaultDecision', 'CheckDecision', 'RecordIncident', 'Report']);
        expect(Object.keys(output.results)).toEqual(['recordIncident']);
        expect(await groupsOfEnis(h)).toEqual(before);
      }

      const { record } = await recordedIncident(h, flow, output);
      expect(record.decisions).toEqual([expect.objectContaining({ decision, by: 'timeout' })]);
      expect(record.actions.map((a) => a.action)).toEqual(decision === 'block' ? ['isolate-node'] : []);
      const { report } = await reportOf(h, flow);
      expect(report.embeds[0]?.title).toMatch(/^Report: /);
    });
  }

  it('a file artifact: the file in S3 under its sha256 (bytes and metadata), quarantined in the pod as quarantine_<sha12>_<name> mode 000, recorded and reported', { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
    const h = main;
    const event = fluentBitLine(
      `DVWA_UPLOAD_MOVE ${kv({ src: '/tmp/phpA1b2C3', dst: POD_FILE, proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: POD_CONTAINER, pod: POD_NAME, ns: POD_NAMESPACE })}`,
      { host: h.node.name },
    );
    const triage = triageOf(event);
    expect(triage.route).toBe('file-artifact');
    expect(triage.artifact?.path).toBe(POD_FILE);
    const pod = h.kube.pod(POD_NAMESPACE, POD_NAME);
    expect(await pod.exists(POD_FILE)).toBe(true);
    await h.send(event);

    const flow = await executionOf(h, triage);
    const { output } = await finishedOk(h, flow.executionArn);
    expect(statesEntered(await history(h, flow.executionArn))).toEqual(['Route', 'ExtractFile', 'QuarantineFile', 'RecordIncident', 'Report']);

    // extract-file: the bytes, under evidence/<incident>/<sha256>/, with the sha256 and the source as metadata.
    const sha = sha256(POD_FILE_CONTENT);
    const extract = output.results.extractFile!;
    expect(extract.status).toBe('succeeded');
    expect(extract.details.sha256).toBe(sha);
    const key = String(extract.details.key);
    expect(key.startsWith(`evidence/${flow.incidentId}/${sha}/`)).toBe(true);
    const object = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(bytes.toString('utf8')).toBe(POD_FILE_CONTENT);
    expect(sha256(bytes)).toBe(sha);
    expect(object.Metadata).toMatchObject({ sha256: sha, namespace: POD_NAMESPACE, pod: POD_NAME, container: POD_CONTAINER, path: POD_FILE, 'incident-id': flow.incidentId });

    // quarantine-file: the original is gone, the copy is in the quarantine directory, mode 000, same content.
    const quarantine = output.results.quarantineFile!;
    expect(quarantine.status).toBe('succeeded');
    const dir = h.config.pipeline.quarantineDir;
    const name = `quarantine_${sha.slice(0, 12)}_shell.php`;
    expect(quarantine.details.to).toBe(`${dir}/${name}`);
    expect(await pod.exists(POD_FILE)).toBe(false);
    expect(await pod.list(dir)).toEqual([`${dir}/${name}`]);
    expect(await pod.mode(`${dir}/${name}`)).toBe(0o000);
    expect(await pod.sha256(`${dir}/${name}`)).toBe(sha);

    const { record } = await recordedIncident(h, flow, output);
    expect(record.actions.map((a) => [a.action, a.status])).toEqual([
      ['extract-file', 'succeeded'],
      ['quarantine-file', 'succeeded'],
    ]);
    expect(record.manifest).toEqual([expect.objectContaining({ kind: 'file', sha256: sha, location: `s3://${h.bucket}/${key}` })]);
    const { report, status } = await reportOf(h, flow);
    expect(status).toBe('done');
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(JSON.stringify(report.embeds)).toContain(sha.slice(0, 12));
    expect(postsAbout(h, flow.incidentId)).toHaveLength(1);
  });

  it('a step that fails for good (deny-egress for a node that does not exist) is caught, recorded and reported with its error', { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
    const h = main;
    const ghost = `ghost-${randomBytes(4).toString('hex')}.ap-northeast-2.compute.internal`;
    const event = fluentBitLine(reverseShellLine({ ip: attackerIp(), port: 8443, pod: 'web-ghost', ns: POD_NAMESPACE }), { host: ghost });
    const triage = triageOf(event);
    expect(triage.route).toBe('block-egress');
    await h.send(event);

    const flow = await executionOf(h, triage);
    const { output } = await finishedOk(h, flow.executionArn);
    const events = await history(h, flow.executionArn);
    expect(statesEntered(events)).toEqual(['Route', 'DenyEgress', 'RecordIncident', 'Report']);
    // Not a transient error: no retry, SendTaskFailure with the action's code, then the Catch.
    expect(events.filter((e) => e.type === 'TaskFailed').map((e) => e.taskFailedEventDetails?.error)).toEqual(['sentinel.NotFound']);
    expect(output.error?.Error).toBe('sentinel.NotFound');
    expect(output.results.denyEgress).toBeUndefined();
    const failures = parseLogs(h.logs).filter((l) => l.action === 'deny-egress' && l.message === 'action failed' && l.incidentId === flow.incidentId);
    expect(failures).toHaveLength(1);
    expect(String(failures[0]!.reason)).toContain(ghost);

    const { record } = await recordedIncident(h, flow, output);
    expect(record.error).toEqual(expect.objectContaining({ error: 'sentinel.NotFound' }));
    const { report, status } = await reportOf(h, flow);
    expect(status).toBe('failed');
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(JSON.stringify(report.embeds)).toContain('sentinel.NotFound');
  });

  it('Discord failing with 503 while the report is posted: the report stays in the outbox and is posted in the end', { timeout: TEST_TIMEOUT_MS }, async ({ expect }) => {
    const h = flaky;
    // The report's edit is the first PATCH of this harness: @discordjs/rest tries it four times
    // (three retries on 5xx), all answered 503. The report is recorded in the outbox and its SQS
    // message deleted; the outbox backs off and edits again.
    const outage = h.discord.injectServerError({ method: 'PATCH', path: new RegExp(`^/channels/${h.channelId}/messages/\\d+$`), status: 503, times: 4 });
    const ip = attackerIp();
    const event = fluentBitLine(reverseShellLine({ ip, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name });
    await h.send(event);
    const flow = await executionOf(h, triageOf(event));
    // The execution ends once the report message is on the queue (Report is a plain sendMessage);
    // from there only SQS keeps it.
    await finishedOk(h, flow.executionArn);
    expect(statesEntered(await history(h, flow.executionArn)).filter((s) => s === 'Report')).toHaveLength(1);

    const { report, status } = await reportOf(h, flow, 120_000);
    expect(outage.hits).toBe(4);
    expect(status).toBe('done');
    expect(report.embeds[0]?.title).toMatch(/^Report: /);
    expect(JSON.stringify(report.embeds)).toContain(ip);
    const logs = parseLogs(h.logs);
    expect(logs.filter((l) => l.message === 'report failed; will retry' && l.incidentId === flow.incidentId)).toHaveLength(0);
    const waited = logs.filter((l) => l.message === 'Discord did not take a message; it stays in the outbox and is sent again' && l.key === `incident.${flow.incidentId}`);
    expect(waited).toHaveLength(1);
    expect(String(waited[0]!.reason)).toMatch(/Service Unavailable/);
    const patches = h.discord.calls((c) => c.method === 'PATCH' && c.path === `/channels/${h.channelId}/messages/${report.id}`);
    expect(patches.map((c) => c.status)).toEqual([503, 503, 503, 503, 200]);
    expect(await h.queueDepth(h.dlqUrl)).toBe(0);
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);
  });
});
