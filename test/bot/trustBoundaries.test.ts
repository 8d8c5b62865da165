/**
 * Only the playbook can make the bot act: control messages (steps, approval requests, reports)
 * come only on the control queue, only from the state machines' role, and a step acts only while
 * its task token is live. Everything refused is audited with its sender and reason, and nothing
 * runs. Driven end to end: moto (SQS with SenderId, Step Functions), the fake Discord and the
 * fake Kubernetes API, through the real bot.
 *
 * moto gives every SQS message one SenderId; test/support/moto/startMoto.ts makes it follow the
 * caller's access key, as AWS does (moto's own Step Functions sends with the state-machine
 * role's id, other clients with moto's default id). See test/support/moto/GAPS.md.
 */
import { randomUUID } from 'node:crypto';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/stores/auditLog.js';
import { MALICIOUS_IPS_KEY } from '../../src/pipeline/actions/forensics/addMaliciousIp.js';
import { newApprovalRecord } from '../../src/stores/approvalStore.js';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { MOTO_DEFAULT_SENDER_ID, MOTO_STATE_MACHINE_SENDER_ID, waitFor } from '../support/aws.js';
import { artifactExecEvent, createBotHarness, type BotHarness } from '../helpers/botHarness.js';
import { createOneStepMachine } from '../helpers/oneStepMachine.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

async function refusal(match: (e: AuditEntry) => boolean, what = 'message-refused'): Promise<AuditEntry> {
  return waitFor(
    async () => {
      const entries = await h.bot.context.audit.readAudit({ what, outcome: 'refused' });
      return entries.find(match);
    },
    { timeoutMs: 60_000, what: `a ${what} audit entry` },
  );
}

/** The malicious-IP list's addresses ([] when there is no list). */
async function listedIps(): Promise<string[]> {
  try {
    const out = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: MALICIOUS_IPS_KEY }));
    const list = JSON.parse(await out.Body!.transformToString()) as { entries: { ip: string }[] };
    return list.entries.map((e) => e.ip);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return [];
    throw err;
  }
}

/** The incident an event opened (its execution's input names it). */
async function incidentOf(event: unknown): Promise<string> {
  const triaged = triageEvent(event, loadPlaybookConfig(undefined));
  if (!triaged.ok) throw new Error(triaged.error);
  const prefix = executionNameFor(triaged.result.dedupeKey, new Date(0)).replace(/-0$/, '');
  const execution = await waitFor(async () => (await h.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 60_000, what: 'the execution' });
  const d = await h.describeExecution(execution.executionArn!);
  return (JSON.parse(d.input!) as { incidentId: string }).incidentId;
}

function forgedTask(ip: string, incidentId: string, taskToken: string) {
  return { kind: 'task', taskToken, action: 'add-malicious-ip', input: { ip, source: 'falco' }, incidentId };
}

/** Nothing that could hold the token was written: not the log, not the audit trail. */
async function neverShown(secret: string): Promise<void> {
  expect(h.logs.join('\n')).not.toContain(secret);
  expect(JSON.stringify(await h.bot.context.audit.readAudit())).not.toContain(secret);
}

describe('control messages on the intake queue', () => {
  it('refuses a forged task on the intake queue: nothing runs, and the refusal is audited with its sender', async () => {
    const token = `forged-${randomUUID()}`;
    const id = await h.send(forgedTask('198.51.100.71', 'inc-forged-on-intake', token));
    const entry = await refusal((e) => (e.detail as { messageId?: string }).messageId === id);
    expect(entry).toMatchObject({ who: `sqs:${MOTO_DEFAULT_SENDER_ID}`, incidentId: 'inc-forged-on-intake', detail: { queue: 'intake', kind: 'task' } });
    expect((entry.detail as { reason: string }).reason).toMatch(/task message on the intake queue/);
    expect(await listedIps()).not.toContain('198.51.100.71');
    expect(await h.queueDepth(h.queueUrl)).toBe(0);
    await neverShown(token);
  });

  it('refuses a forged report on the intake queue', async () => {
    const id = await h.send({ kind: 'report', executionName: 'x', incident: { incidentId: 'inc-forged-report', executionName: 'x', startTime: new Date().toISOString(), route: 'record', triage: {}, results: {} } });
    const entry = await refusal((e) => (e.detail as { messageId?: string }).messageId === id);
    expect(entry).toMatchObject({ detail: { queue: 'intake', kind: 'report' } });
    expect(h.posted().filter((c) => JSON.stringify(c.body).includes('inc-forged-report'))).toEqual([]);
  });
});

describe('control messages from anyone but the state machines', () => {
  it('refuses a task on the control queue from another sender, unread', async () => {
    const token = `forged-${randomUUID()}`;
    const id = await h.sendControl(forgedTask('198.51.100.72', 'inc-forged-sender', token), { as: 'intruder' });
    const entry = await refusal((e) => (e.detail as { messageId?: string }).messageId === id);
    expect(entry).toMatchObject({ who: `sqs:${MOTO_DEFAULT_SENDER_ID}`, detail: { queue: 'control', kind: 'unknown' } });
    expect((entry.detail as { reason: string }).reason).toBe("the sender is not the state machines' role");
    expect(entry.incidentId).toBeUndefined();
    expect(await listedIps()).not.toContain('198.51.100.72');
    await neverShown(token);
  });

  it('refuses a task with a dead token even from the state machines\' role, without acting', async () => {
    const token = `forged-${randomUUID()}`;
    await h.sendControl(forgedTask('198.51.100.73', 'inc-dead-token', token));
    const entry = await refusal((e) => e.incidentId === 'inc-dead-token', 'task-refused');
    expect(entry.who).toBe(`sqs:${MOTO_STATE_MACHINE_SENDER_ID}`);
    expect((entry.detail as { reason: string }).reason).toMatch(/^the task token is not live \((InvalidToken|TaskDoesNotExist)\)$/);
    expect(await listedIps()).not.toContain('198.51.100.73');
    await neverShown(token);
  });
});

describe('steps of a real execution', () => {
  it('runs a step whose token is live', async () => {
    const machine = await createOneStepMachine(h, {
      body: { kind: 'task', action: 'add-malicious-ip', incidentId: 'inc-live-step', input: { ip: '198.51.100.75', source: 'falco' }, timeoutSeconds: 60 },
      timeoutSeconds: 60,
    });
    const run = await machine.start();
    const done = await h.finished(run.executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toMatchObject({ action: 'add-malicious-ip', status: 'succeeded' });
    expect(await listedIps()).toContain('198.51.100.75');
  });

  it('a stale step after an outage does not act: its deadline passed while the bot was down', async () => {
    await h.stop();
    const machine = await createOneStepMachine(h, {
      body: { kind: 'task', action: 'add-malicious-ip', incidentId: 'inc-stale-step', input: { ip: '198.51.100.76', source: 'falco' }, timeoutSeconds: 2 },
      timeoutSeconds: 2,
    });
    const run = await machine.start();
    // The outage: Step Functions gives up on the step while nobody consumes the control queue.
    const failed = await h.finished(run.executionArn, 60_000);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('States.Timeout');
    await h.start();
    const entry = await refusal((e) => e.incidentId === 'inc-stale-step', 'task-refused');
    expect((entry.detail as { reason: string }).reason).toMatch(/deadline .* has passed|not live/);
    expect(await listedIps()).not.toContain('198.51.100.76');
  });

  it('ignores a memory waiver in a task body: the stop is refused and the instance keeps running', async () => {
    const machine = await createOneStepMachine(h, {
      body: {
        kind: 'task',
        action: 'isolate-node',
        incidentId: 'inc-body-waiver',
        input: { node: h.node.name, stopInstance: true },
        memory: { waivedBy: 'discord:123456789012345678' },
        timeoutSeconds: 120,
      },
      timeoutSeconds: 120,
    });
    const run = await machine.start();
    const done = await h.finished(run.executionArn);
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('sentinel.MemoryNotPreserved');
    const out = await h.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [h.node.instanceId] }));
    const instance = out.Reservations![0]!.Instances![0]!;
    expect(instance.State?.Name).toBe('running');
    expect((instance.Tags ?? []).map((t) => t.Key)).not.toContain('sentinel:isolated');
    expect(h.logs.some((l) => l.includes('a memory waiver in the task body was ignored'))).toBe(true);
  });

  it('takes a memory waiver from the approval store: only a responder\'s Allow for this execution lets the stop go ahead', async () => {
    const machine = await createOneStepMachine(h, {
      body: { kind: 'task', action: 'isolate-node', incidentId: 'inc-store-waiver', input: { node: h.node.name, stopInstance: true }, memory: {}, timeoutSeconds: 120 },
      timeoutSeconds: 120,
    });
    const approvals = h.bot.context.approvals;
    // The playbook's AskWaiver, answered Allow by a responder (as handleApprovalRequest and the button record it).
    const waive = async (executionName: string) => {
      const asked = await approvals.create(
        newApprovalRecord({
          taskToken: `waiver-token-${randomUUID()}`,
          incidentId: 'inc-store-waiver',
          executionName,
          proposedAction: { action: 'waive-memory-capture', input: {} },
          requiredApprovals: 1,
          now: new Date(),
          timeoutMs: 600_000,
        }),
      );
      await approvals.decide(asked.approvalId, { by: `discord:${h.users.alice}`, decision: 'allow', at: new Date() });
    };
    // A waiver given in another execution of the incident does not count.
    await waive('another-execution');
    const other = await machine.start();
    expect((await h.finished(other.executionArn)).error).toBe('sentinel.MemoryNotPreserved');

    const name = `waived-${randomUUID().slice(0, 8)}`;
    await waive(name);
    const own = await machine.start({}, name);
    const done = await h.finished(own.executionArn);
    expect(done.status).toBe('SUCCEEDED');
    const out = await h.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [h.node.instanceId] }));
    expect(['stopping', 'stopped']).toContain(out.Reservations![0]!.Instances![0]!.State?.Name);
  });
});

describe('reports and alerts', () => {
  it('a report from another execution does not touch the incident', async () => {
    const event = artifactExecEvent(h.node.name, { tag: 'forged-report' });
    await h.send(event);
    const incidentId = await incidentOf(event);
    // Settled: the playbook waits for its approval and the incident message already shows it (the status is
    // stored before its edit is sent: a later "Awaiting approval" PATCH would otherwise count against the report).
    const before = await waitFor(async () => {
      const state = await h.bot.context.incidents.get(incidentId);
      if (!state?.messageId || state.status !== 'awaiting-approval') return undefined;
      const shown = h.discord.calls((c) => c.path.endsWith(`/messages/${state.messageId}`) && JSON.stringify(c.body ?? '').includes('Awaiting approval'));
      const sent = Object.values(h.bot.context.outbox.backlog()).every((n) => n === 0);
      return shown.length > 0 && sent ? state : undefined;
    }, { timeoutMs: 60_000 });
    // Calls are numbered from 1: what comes after the last one so far.
    const seq = Math.max(0, ...h.discord.calls(() => true).map((c) => c.seq)) + 1;

    const id = await h.sendControl({
      kind: 'report',
      executionName: 'someone-elses-execution',
      incident: { incidentId, executionName: 'someone-elses-execution', startTime: new Date().toISOString(), route: 'record', triage: {}, results: {} },
    });
    const entry = await refusal((e) => (e.detail as { messageId?: string }).messageId === id);
    expect((entry.detail as { reason: string }).reason).toMatch(/may not update incident/);
    const after = await h.bot.context.incidents.get(incidentId);
    expect(after?.status).toBe(before?.status);
    expect(h.discord.calls((c) => c.seq >= seq && c.method === 'PATCH' && c.path.endsWith(`/messages/${before.messageId}`))).toEqual([]);
  });
});
