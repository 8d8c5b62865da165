/**
 * The forensics and notify playbooks (deploy/statemachines) run by moto's Step Functions, with
 * this test in the bot's place: it receives each message from the queue, checks it with the bot's
 * own parser (and each task's input with its action's schema), and answers with SendTaskSuccess or
 * SendTaskFailure the way src/handlers/handleTask.ts does, including the memory guard in front of
 * isolate-node. What moto's interpreter supports is in test/support/moto/GAPS.md and the report of
 * this change; stateMachines.test.ts checks the same files without running them.
 */
import { CreateStateMachineCommand, DescribeExecutionCommand, SendTaskFailureCommand, SendTaskSuccessCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { parseMessage, type ParsedMessage } from '../../src/handlers/messages.js';
import type { AnalyseArtifactsDetails } from '../../src/pipeline/actions/forensics/analyseArtifacts.js';
import type { CaptureMemoryDetails } from '../../src/pipeline/actions/forensics/captureMemory.js';
import type { CollectFromDiskDetails } from '../../src/pipeline/actions/forensics/collectFromDisk.js';
import type { CollectVolatileDetails } from '../../src/pipeline/actions/forensics/collectVolatile.js';
import { isolateNodeAction } from '../../src/pipeline/actions/containment/isolateNode.js';
import type { PreserveDiskDetails } from '../../src/pipeline/actions/forensics/preserveDisk.js';
import type { PullCloudTrailDetails } from '../../src/pipeline/actions/forensics/pullCloudTrail.js';
import { loadAllActions } from '../../src/pipeline/actions/registry.js';
import { actionDestroysMemory, assertMemoryPreserved, MemoryNotPreservedError } from '../../src/pipeline/forensics/memoryGuard.js';
import type { IncidentInput } from '../../src/pipeline/incident/incidentRecord.js';
import { buildPlaybookInput, type ForensicsPlaybookSettings } from '../../src/pipeline/incident/playbookState.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import { loadStateMachineDefinitions } from '../../src/provision/loadStateMachines.js';
import { testSettings } from '../helpers/deps.js';
import { guardDutyEvent } from '../helpers/events.js';
import { createMotoClients, MOTO_ACCOUNT_ID, uniqueName, waitFor } from '../support/aws.js';

let aws: AwsClients;
const ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/sentinel-sfn`;
const BUCKET = 'sentinel-evidence-test';
const INSTANCE = 'i-0a1b2c3d4e5f60718';
const FORENSIC_INSTANCE = 'i-0f0e0d0c0b0a09080';
const REMOTE_IP = '198.51.100.23';
const RESPONDER = 'discord:222333444555666777';
const SHA = (c: string) => c.repeat(64);

beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

/** The bot's action registry: every task must name an action in it. */
const ACTIONS = await loadAllActions();

const playbooks = loadPlaybookConfig();
function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, playbooks);
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

const FORENSICS: ForensicsPlaybookSettings = {
  forensicInstanceId: FORENSIC_INSTANCE,
  limeModuleBucket: 'sentinel-lime-modules',
  memoryCaptureTimeoutSeconds: 600,
  stopInstance: true,
};

// ---------------------------------------------------------------------------------------------
// Representative action results: the details fields the playbook reads are typed by the actions.
// ---------------------------------------------------------------------------------------------

const volatileEvidence = (item: string, c: string) => ({
  kind: `volatile:${item}`,
  location: `s3://${BUCKET}/evidence/inc/volatile/${INSTANCE}/${item}/${SHA(c)}.txt`,
  sha256: SHA(c),
  size: 1234,
  collector: 'sentinel-test',
  collectedAt: '2026-11-20T03:21:00.000Z',
  source: { instanceId: INSTANCE, item, command: 'ps -eo pid,ppid,user,args', ssmCommandId: 'cmd-1' },
});
const DISK_ARTIFACT = { kind: 'disk:bundle' as const, location: `s3://${BUCKET}/evidence/inc/disk/${INSTANCE}-0123456789ab.tar.gz`, sha256: SHA('d') };
const CLOUDTRAIL_LOCATION = `s3://${BUCKET}/evidence/inc/${SHA('e')}/cloudtrail-events.json`;
const SNAPSHOTS = ['snap-0a1b2c3d4e5f60718', 'snap-0b1c2d3e4f5061728'];

function details(action: string, input: Record<string, unknown>): Record<string, unknown> {
  switch (action) {
    case 'collect-volatile':
      return { instanceId: INSTANCE, evidence: [volatileEvidence('processes', 'a'), volatileEvidence('network-connections', 'b')] } satisfies Pick<CollectVolatileDetails, 'instanceId' | 'evidence'>;
    case 'capture-memory':
      return { instanceId: INSTANCE, memoryCaptured: true, location: `s3://${BUCKET}/evidence/inc/memory/${INSTANCE}/x.lime`, sha256: SHA('c'), notes: [] } satisfies CaptureMemoryDetails;
    case 'preserve-disk':
      return {
        instanceId: INSTANCE,
        snapshots: SNAPSHOTS.map((snapshotId, i) => ({ volumeId: `vol-0${i}1b2c3d4e5f60718`, snapshotId, device: i ? '/dev/sdf' : '/dev/xvda', reused: false, state: 'pending' })),
        evidence: [],
        notes: [],
      } satisfies PreserveDiskDetails;
    case 'collect-disk':
      return { artifacts: [DISK_ARTIFACT] } satisfies Pick<CollectFromDiskDetails, 'artifacts'>;
    case 'pull-cloudtrail':
      return { instanceId: INSTANCE, location: CLOUDTRAIL_LOCATION, sha256: SHA('e'), alreadyStored: false } satisfies Pick<PullCloudTrailDetails, 'instanceId' | 'location' | 'sha256' | 'alreadyStored'>;
    case 'analyse':
      return { findings: [], counts: { critical: 0, high: 0, medium: 0, low: 0, total: 0 }, location: `s3://${BUCKET}/evidence/inc/${SHA('f')}/analysis-findings.json`, sha256: SHA('f') } satisfies Pick<
        AnalyseArtifactsDetails,
        'findings' | 'counts' | 'location' | 'sha256'
      >;
    case 'isolate-node':
      return { node: String(input.node), instanceId: INSTANCE, stopped: input.stopInstance === true };
    case 'record-incident':
      return { location: `s3://${BUCKET}/incidents/2026-11-20T03:19:00.000Z/x.json` };
    default:
      return { input };
  }
}

// ---------------------------------------------------------------------------------------------
// The bot's part: receive, check, answer.
// ---------------------------------------------------------------------------------------------

type Reply = { output: object } | { error: string } | 'no answer';
interface Received {
  /** `notify`, the task's action, `approval:<proposed action>`, or `report`. */
  label: string;
  body: Record<string, unknown>;
  parsed: ParsedMessage;
  /** When the test received it (ms since the epoch). */
  at: number;
  reply?: Reply;
}
type Override = (r: Received) => Reply | undefined;

interface RunOptions {
  triage: TriageResult;
  forensics?: ForensicsPlaybookSettings;
  machine?: 'ec2-forensics' | 'notify';
  approvalTimeoutSeconds?: number;
  /** Answers of this test, by label; `undefined` falls back to the bot's usual answer. */
  answers?: Record<string, Override>;
  timeoutMs?: number;
}

interface Run {
  status: string | undefined;
  received: Received[];
  labels: string[];
  /** Problems the bot would have had with the messages (empty when all were fine). */
  problems: string[];
  report: IncidentInput | undefined;
  tasks: (action: string) => Received[];
}

/** What the bot does with a task (handleTask), with the memory guard in front of the action. */
function botAnswer(r: Received): Reply {
  if (r.parsed.kind !== 'task') return 'no answer';
  const msg = r.parsed.message;
  const input = msg.input as Record<string, unknown>;
  if (msg.action === 'isolate-node') {
    const parsed = isolateNodeAction.input.parse(input);
    try {
      assertMemoryPreserved({ destroysMemory: actionDestroysMemory(isolateNodeAction, parsed, testSettings()), memory: msg.memory ?? {}, action: msg.action });
    } catch (err) {
      if (err instanceof MemoryNotPreservedError) return { error: 'sentinel.MemoryNotPreserved' };
      throw err;
    }
  }
  return { output: { action: msg.action, status: 'succeeded', summary: `${msg.action} done`, details: details(msg.action, input) } };
}

function labelOf(p: ParsedMessage): string {
  switch (p.kind) {
    case 'task':
      return p.message.action;
    case 'approval-request':
      return `approval:${p.message.proposedAction.action}`;
    default:
      return p.kind;
  }
}

async function runPlaybook(options: RunOptions): Promise<Run> {
  const { QueueUrl: queueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('playbook') }));
  const machine = options.machine ?? 'ec2-forensics';
  const definition = (await loadStateMachineDefinitions(queueUrl!)).find((d) => d.name === machine)!.definition;
  const { stateMachineArn } = await aws.sfn.send(new CreateStateMachineCommand({ name: uniqueName(machine), definition, roleArn: ROLE_ARN }));
  const executionName = uniqueName('exec');
  const input = buildPlaybookInput({
    incidentId: `inc-${executionName}`,
    executionName,
    startTime: '2026-11-20T03:19:00.000Z',
    triage: options.triage,
    event: { sample: true },
    settings: { approvalTimeoutSeconds: options.approvalTimeoutSeconds ?? 3600, defaultDecision: 'block', ...(options.forensics ? { forensics: options.forensics } : {}) },
    now: new Date('2026-11-20T03:20:00.000Z'),
  });
  const { executionArn } = await aws.sfn.send(new StartExecutionCommand({ stateMachineArn, name: executionName, input: JSON.stringify(input) }));

  const received: Received[] = [];
  const problems: string[] = [];
  const take = async () => {
    const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const m of out.Messages ?? []) {
      await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      const body = JSON.parse(m.Body!) as Record<string, unknown>;
      const parsed = parseMessage(m.Body!);
      if (!parsed.ok) {
        problems.push(`${String(body.kind)}: ${parsed.reason}`);
        continue;
      }
      const r: Received = { label: labelOf(parsed.parsed), body, parsed: parsed.parsed, at: Date.now() };
      received.push(r);
      if (parsed.parsed.kind === 'task') {
        const def = ACTIONS[parsed.parsed.message.action];
        const valid = def?.input.safeParse(parsed.parsed.message.input);
        if (!valid?.success) problems.push(`${r.label}: ${def ? valid!.error!.issues.map((i: { path: PropertyKey[]; message: string }) => `${i.path.join('.')}: ${i.message}`).join('; ') : 'no such action'}`);
      }
      try {
        r.reply = options.answers?.[r.label]?.(r) ?? botAnswer(r);
      } catch (err) {
        problems.push(`${r.label}: the bot could not answer: ${(err as Error).message}`);
        r.reply = { error: 'sentinel.InvalidInput' };
      }
      const token = (body as { taskToken?: string }).taskToken;
      if (!token || r.reply === 'no answer') continue;
      try {
        if ('output' in r.reply) await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(r.reply.output) }));
        else await aws.sfn.send(new SendTaskFailureCommand({ taskToken: token, error: r.reply.error, cause: `${r.label} failed in the test` }));
      } catch (err) {
        // A retried task reuses its token on moto and may already have moved on (see the report).
        if ((err as Error).name !== 'InvalidToken') problems.push(`${r.label}: cannot answer: ${(err as Error).message}`);
      }
    }
    return (out.Messages ?? []).length;
  };
  const status = await waitFor(
    async () => {
      await take();
      const d = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (d.status === 'RUNNING') return undefined;
      while ((await take()) > 0);
      return d.status;
    },
    { timeoutMs: options.timeoutMs ?? 150_000, intervalMs: 50, what: `${machine} execution ${executionName} to finish` },
  );
  const reports = received.filter((r) => r.parsed.kind === 'report');
  const report = reports.length === 1 && reports[0]!.parsed.kind === 'report' ? reports[0]!.parsed.message.incident : undefined;
  return { status, received, labels: received.map((r) => r.label), problems, report, tasks: (action) => received.filter((r) => r.label === action) };
}

const taskOf = (r: Received | undefined) => {
  if (r?.parsed.kind !== 'task') throw new Error(`expected a task, got ${r?.label}`);
  return r.parsed.message;
};
const outcome = (report: IncidentInput | undefined, action: string) => (report?.actions ?? []).filter((a) => a.action === action).map((a) => ({ status: a.status, summary: a.summary }));

// ---------------------------------------------------------------------------------------------

describe.concurrent('the EC2 forensics playbook on moto', () => {
  it('runs every step in order, each input accepted by its action, and reports each result', { timeout: 180_000 }, async () => {
    const run = await runPlaybook({ triage: triageOf(guardDutyEvent({ instanceId: INSTANCE, remoteIp: REMOTE_IP, remotePort: 4444 })), forensics: FORENSICS });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.labels).toEqual([
      'notify',
      'deny-egress',
      'add-malicious-ip',
      'collect-volatile',
      'capture-memory',
      'preserve-disk',
      'isolate-node',
      'collect-disk',
      'pull-cloudtrail',
      'analyse',
      'record-incident',
      'report',
    ]);
    expect(taskOf(run.tasks('deny-egress')[0]).input).toMatchObject({ ip: REMOTE_IP, port: 4444 });
    expect(taskOf(run.tasks('add-malicious-ip')[0]).input).toMatchObject({ ip: REMOTE_IP, source: 'guardduty' });
    // The capture succeeded: the isolation may stop the instance, and the bot's guard lets it.
    const isolate = taskOf(run.tasks('isolate-node')[0]);
    expect(isolate.memory).toEqual({ captured: true });
    expect(isolate.input).toEqual({ node: INSTANCE, stopInstance: true });
    expect(run.tasks('isolate-node')[0]!.reply).toHaveProperty('output');
    // collect-disk gets the snapshots preserve-disk took and the configured forensic instance.
    expect(taskOf(run.tasks('collect-disk')[0]).input).toEqual({ instanceId: INSTANCE, forensicInstanceId: FORENSIC_INSTANCE, snapshotIds: SNAPSHOTS });
    // The analysis reads what was collected: volatile outputs, the disk bundle, the CloudTrail events.
    const pull = taskOf(run.tasks('pull-cloudtrail')[0]).input as { since: string; until: string };
    expect(taskOf(run.tasks('analyse')[0]).input).toEqual({
      window: { since: pull.since, until: pull.until },
      findingRemoteIp: REMOTE_IP,
      artifacts: [
        { kind: 'volatile:processes', location: volatileEvidence('processes', 'a').location, sha256: SHA('a') },
        { kind: 'volatile:network-connections', location: volatileEvidence('network-connections', 'b').location, sha256: SHA('b') },
        DISK_ARTIFACT,
        { kind: 'cloudtrail', location: CLOUDTRAIL_LOCATION, sha256: SHA('e') },
      ],
    });
    expect(run.report).toBeDefined();
    expect(run.report!.actions.map((a) => [a.action, a.status])).toEqual(
      expect.arrayContaining(
        ['deny-egress', 'add-malicious-ip', 'collect-volatile', 'capture-memory', 'preserve-disk', 'isolate-node', 'collect-disk', 'pull-cloudtrail', 'analyse', 'record-incident'].map((a) => [a, 'succeeded']),
      ),
    );
    expect(run.report!.actions.some((a) => a.status !== 'succeeded')).toBe(false);
    expect(run.report!.decisions).toEqual([]);
  });

  it('a failed capture asks for a waiver; with no answer the isolation carries neither capture nor waiver, the stop is refused and only the network is isolated', { timeout: 180_000 }, async () => {
    const run = await runPlaybook({
      triage: triageOf(guardDutyEvent({ instanceId: INSTANCE })),
      forensics: { ...FORENSICS, forensicInstanceId: undefined },
      approvalTimeoutSeconds: 2,
      answers: { 'capture-memory': () => ({ error: 'sentinel.NoLimeModule' }), 'approval:waive-memory-capture': () => 'no answer' },
    });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.labels).toEqual([
      'notify',
      'collect-volatile',
      'capture-memory',
      'approval:waive-memory-capture',
      'preserve-disk',
      'isolate-node',
      'isolate-node',
      'pull-cloudtrail',
      'analyse',
      'record-incident',
      'report',
    ]);
    const ask = run.received.find((r) => r.parsed.kind === 'approval-request')!;
    if (ask.parsed.kind !== 'approval-request') throw new Error('unreachable');
    expect(ask.parsed.message.proposedAction.summary).toContain(`Memory capture of ${INSTANCE} failed`);
    expect(ask.parsed.message.proposedAction.summary).toContain('Allow waives the capture');
    expect(ask.body.timeoutSeconds).toBe(2);
    // Nobody answered: the isolation says memory was not captured and names no waiver ...
    const [withStop, networkOnly] = run.tasks('isolate-node').map(taskOf);
    expect(withStop!.memory).toEqual({ captured: false });
    expect(withStop!.input).toEqual({ node: INSTANCE, stopInstance: true });
    // ... so the bot's guard refuses the stop, and the playbook isolates without stopping.
    expect(run.tasks('isolate-node')[0]!.reply).toEqual({ error: 'sentinel.MemoryNotPreserved' });
    expect(networkOnly!.input).toEqual({ node: INSTANCE, stopInstance: false });
    expect(networkOnly!.memory).toEqual({ captured: false });
    expect(run.tasks('isolate-node')[1]!.reply).toHaveProperty('output');
    // Without a forensic instance the snapshots are not examined; the analysis reads the rest.
    expect((taskOf(run.tasks('analyse')[0]).input as { artifacts: { kind: string }[] }).artifacts.map((a) => a.kind)).toEqual(['volatile:processes', 'volatile:network-connections', 'cloudtrail']);

    expect(outcome(run.report, 'capture-memory')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.NoLimeModule') }]);
    expect(outcome(run.report, 'isolate-node')).toEqual([
      { status: 'skipped', summary: expect.stringContaining('neither captured nor waived') },
      { status: 'succeeded', summary: 'isolate-node done' },
    ]);
    expect(outcome(run.report, 'collect-disk')).toEqual([{ status: 'skipped', summary: expect.stringContaining('no forensic instance') }]);
    expect(run.report!.decisions).toEqual([expect.objectContaining({ decision: 'timeout', by: 'timeout', action: 'waive-memory-capture' })]);
  });

  it('Allow waives the capture: the isolation names who waived it and the stop goes ahead', { timeout: 180_000 }, async () => {
    const run = await runPlaybook({
      triage: triageOf(guardDutyEvent({ instanceId: INSTANCE })),
      forensics: FORENSICS,
      answers: {
        'capture-memory': () => ({ error: 'sentinel.MemoryCaptureFailed' }),
        'approval:waive-memory-capture': () => ({ output: { action: 'allow', by: RESPONDER, at: '2026-11-20T03:25:00.000Z' } }),
      },
    });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.labels.filter((l) => l === 'isolate-node')).toHaveLength(1);
    const isolate = taskOf(run.tasks('isolate-node')[0]);
    expect(isolate.memory).toEqual({ waivedBy: RESPONDER });
    expect(isolate.input).toEqual({ node: INSTANCE, stopInstance: true });
    expect(run.tasks('isolate-node')[0]!.reply).toHaveProperty('output');
    expect(run.report!.decisions).toEqual([{ decision: 'waive-memory', by: RESPONDER, at: '2026-11-20T03:25:00.000Z', action: 'waive-memory-capture', note: expect.any(String) }]);
  });

  it('Block keeps the capture required: the isolation says not captured and names no waiver', { timeout: 180_000 }, async () => {
    const run = await runPlaybook({
      triage: triageOf(guardDutyEvent({ instanceId: INSTANCE })),
      forensics: FORENSICS,
      answers: {
        'capture-memory': () => ({ error: 'sentinel.MemoryCaptureFailed' }),
        'approval:waive-memory-capture': () => ({ output: { action: 'block', by: RESPONDER, at: '2026-11-20T03:25:00.000Z' } }),
      },
    });

    expect(run.problems).toEqual([]);
    const [first] = run.tasks('isolate-node').map(taskOf);
    expect(first!.memory).toEqual({ captured: false });
    expect(run.tasks('isolate-node')[0]!.reply).toEqual({ error: 'sentinel.MemoryNotPreserved' });
    expect(run.report!.decisions).toEqual([expect.objectContaining({ decision: 'block', by: RESPONDER, action: 'waive-memory-capture' })]);
  });

  it('a step that keeps failing is retried with backoff, then caught, recorded and reported; a final failure is not retried; the playbook goes on', { timeout: 240_000 }, async () => {
    const run = await runPlaybook({
      triage: triageOf(guardDutyEvent({ instanceId: INSTANCE })),
      forensics: FORENSICS,
      answers: {
        'collect-volatile': () => ({ error: 'sentinel.VolatileCollectionFailed' }),
        'pull-cloudtrail': () => ({ error: 'sentinel.AccessDenied' }),
        analyse: () => ({ error: 'sentinel.Transient' }),
      },
      timeoutMs: 220_000,
    });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    // Final failures are not retried; analyse is tried 1 + 3 times, 5, 10 and 20 s apart.
    expect(run.labels).toEqual([
      'notify',
      'collect-volatile',
      'capture-memory',
      'preserve-disk',
      'isolate-node',
      'collect-disk',
      'pull-cloudtrail',
      'analyse',
      'analyse',
      'analyse',
      'analyse',
      'record-incident',
      'report',
    ]);
    const gaps = run.tasks('analyse').map((r, i, all) => (i ? r.at - all[i - 1]!.at : 0)).slice(1);
    expect(gaps[0]).toBeGreaterThanOrEqual(4_000);
    expect(gaps[1]).toBeGreaterThanOrEqual(9_000);
    expect(gaps[2]).toBeGreaterThanOrEqual(19_000);
    // The analysis only got what was collected.
    expect((taskOf(run.tasks('analyse')[0]).input as { artifacts: unknown[] }).artifacts).toEqual([DISK_ARTIFACT]);
    // The report arrives with every failure in it, and the record was written with them.
    expect(outcome(run.report, 'collect-volatile')).toEqual([{ status: 'failed', summary: 'volatile evidence could not be collected (sentinel.VolatileCollectionFailed)' }]);
    expect(outcome(run.report, 'pull-cloudtrail')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.AccessDenied') }]);
    expect(outcome(run.report, 'analyse')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.Transient') }]);
    expect(outcome(run.report, 'preserve-disk')).toEqual([{ status: 'succeeded', summary: 'preserve-disk done' }]);
    const recorded = taskOf(run.tasks('record-incident')[0]).input as { results: Record<string, { status?: string }> };
    expect(recorded.results.collectVolatile?.status).toBe('failed');
    expect(recorded.results.analyse?.status).toBe('failed');
  });

  it('a finding without an instance: the alert, then the record and the report, and nothing else', { timeout: 180_000 }, async () => {
    const noInstance = triageOf(guardDutyEvent({ instanceId: INSTANCE }));
    const run = await runPlaybook({ triage: { ...noInstance, target: {} }, forensics: FORENSICS });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.labels).toEqual(['notify', 'record-incident', 'report']);
    expect(outcome(run.report, 'collect-volatile')).toEqual([{ status: 'skipped', summary: expect.stringContaining('no EC2 instance') }]);
  });
});

describe.concurrent('the notify playbook on moto', () => {
  it('sends one notify message with the incident and ends', { timeout: 180_000 }, async () => {
    const triage = triageOf(guardDutyEvent({ resourceType: 'AccessKey', remoteIp: REMOTE_IP }));
    expect(triage.route).toBe('notify');
    const run = await runPlaybook({ triage, machine: 'notify' });

    expect(run.problems).toEqual([]);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.labels).toEqual(['notify']);
    const [n] = run.received;
    if (n?.parsed.kind !== 'notify') throw new Error('expected a notify message');
    expect(n.parsed.message.incident.triage).toMatchObject({ route: 'notify', rule: triage.rule, ioc: { ip: REMOTE_IP } });
    expect(n.parsed.message.incident.executionName).toMatch(/^exec-/);
  });
});
