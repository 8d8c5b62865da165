/**
 * The embedded engine across a crash: an execution in flight when the process dies resumes when a
 * new engine opens the same directory. A crash is simulated by dropping the engine (close() stops
 * it at once, journalling nothing more; the handler in hand never finishes), and once for real by
 * SIGKILL of a child process (support/engineChild.ts).
 */
import { spawn } from 'node:child_process';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { FileApprovalStore } from '../../../src/stores/fileApprovalStore.js';
import { newApprovalRecord } from '../../../src/stores/approvalStore.js';
import { deliverDecision } from '../../../src/handlers/deliverDecision.js';
import type { HandlerContext } from '../../../src/handlers/context.js';
import { loadFixture } from '../../helpers/events.js';
import { waitFor } from '../../support/aws.js';
import { executionName, playbookDirWith, playbookInput, startEngine, taskOf, tempDir, triageOf, waitForDelivery, waitForEnd, type Answer } from './engineHarness.js';

const engines: EmbeddedEngine[] = [];
const releases: (() => void)[] = [];
afterAll(async () => {
  releases.forEach((r) => r());
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** An answer that never comes while the engine lives: the process dies with the message in hand. */
function hang(): Answer {
  return () =>
    new Promise<'retry'>((resolve) => {
      releases.push(() => resolve('retry'));
    });
}

async function open(dir: string, answers: Record<string, Answer> = {}, options: object = {}) {
  const r = await startEngine({ dir, ...options }, answers);
  engines.push(r.engine);
  return r;
}

/** The crash: the engine stops at once; whatever it had in hand is never finished. */
function crash(engine: EmbeddedEngine): void {
  void engine.close();
}

const tokenOf = (body: Record<string, unknown>) => (body as { taskToken: string }).taskToken;

describe.concurrent('embedded engine: restart', () => {
  it('resumes an execution after a crash mid-step: finished steps are not redelivered, the step in hand is, with the same token, and the playbook finishes', async () => {
    const dir = await tempDir();
    const first = await open(dir, { 'quarantine-file': hang() });
    const name = executionName('crash');
    const triage = triageOf(loadFixture('fluentbit-artifact-write.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    const inHand = await waitForDelivery(first.bot, 'quarantine-file');
    crash(first.engine);

    const second = await open(dir);
    const end = await waitForEnd(second.engine, name);
    expect(end.status).toBe('SUCCEEDED');
    expect(first.bot.labels()).toEqual(['extract-file', 'quarantine-file']);
    expect(second.bot.labels()).toEqual(['quarantine-file', 'record-incident', 'report']);
    const again = second.bot.of('quarantine-file')[0]!;
    expect(again.message.id).toBe(inHand.message.id);
    expect(again.message.receiveCount).toBe(2);
    expect(tokenOf(again.body)).toBe(tokenOf(inHand.body));
    expect(again.message.sentAt).toEqual(inHand.message.sentAt);
    // The result extract-file returned before the crash reaches the record and the report.
    expect((taskOf(second.bot.of('record-incident')[0]).input as { results: Record<string, unknown> }).results).toHaveProperty('extractFile.summary', 'extract-file done');
    expect(second.bot.problems).toEqual([]);
    // Starting it again after the restart is still harmless.
    expect((await second.engine.start(triage.route, name, playbookInput(name, triage))).started).toBe(false);
  });

  it('a decision recorded in the approval store before the crash resumes the replayed execution when delivered after the restart', async () => {
    const dir = await tempDir();
    const approvals = new FileApprovalStore({ dir: join(dir, 'approvals') });
    let approvalId = '';
    const first = await open(dir, {
      // What handleApprovalRequest does: the token goes into the store; the message is done.
      'approval:isolate-node': async (d): Promise<'no answer'> => {
        const record = await approvals.create(
          newApprovalRecord({ taskToken: tokenOf(d.body), incidentId: 'inc-1', proposedAction: { action: 'isolate-node' }, requiredApprovals: 1, now: new Date(), timeoutMs: 3_600_000 }),
        );
        approvalId = record.approvalId;
        return 'no answer';
      },
    });
    const name = executionName('approval');
    const triage = triageOf(loadFixture('fluentbit-artifact-exec.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    await waitFor(async () => approvalId || undefined, { what: 'the approval record' });
    // Clicked: the store records Block; the process dies before the decision reaches the engine.
    expect((await approvals.decide(approvalId, { by: 'discord:111', decision: 'block', at: new Date() })).outcome).toBe('decided');
    crash(first.engine);

    const second = await open(dir);
    const record = (await approvals.get(approvalId))!;
    const delivery = await deliverDecision({ engine: second.engine, approvals } as unknown as HandlerContext, record);
    expect(delivery.outcome).toBe('delivered');
    const end = await waitForEnd(second.engine, name);
    expect(end.status).toBe('SUCCEEDED');
    // The approval request was done before the crash: it is not posted again.
    expect(second.bot.labels()).toEqual(['isolate-node', 'record-incident', 'report']);
    expect((second.bot.report()!.incident as { decisions: unknown[] }).decisions).toEqual([expect.objectContaining({ decision: 'block', by: 'discord:111' })]);
  });

  it('an approval still pending at the crash is clicked after the restart and resumes the playbook (Allow)', async () => {
    const dir = await tempDir();
    const first = await open(dir, { 'approval:isolate-node': () => 'no answer' });
    const name = executionName('pending');
    const triage = triageOf(loadFixture('fluentbit-artifact-exec.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    const ask = await waitForDelivery(first.bot, 'approval:isolate-node');
    crash(first.engine);
    const second = await open(dir);
    await second.engine.taskSucceeded(tokenOf(ask.body), { action: 'allow', by: 'discord:222', at: new Date().toISOString() });
    expect((await waitForEnd(second.engine, name)).status).toBe('SUCCEEDED');
    expect(second.bot.labels()).toEqual(['record-incident', 'report']);
  });

  it('a timeout after the restart counts from when the step was first sent, not from the restart', async () => {
    const dir = await tempDir();
    const first = await open(dir, { 'approval:isolate-node': () => 'no answer' });
    const name = executionName('timeout');
    const triage = triageOf(loadFixture('fluentbit-artifact-exec.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage, { approvalTimeoutSeconds: 6, defaultDecision: 'allow' }));
    const ask = await waitForDelivery(first.bot, 'approval:isolate-node');
    await new Promise((r) => setTimeout(r, 3500));
    crash(first.engine);
    const restartedAt = Date.now();
    const second = await open(dir);
    await waitForEnd(second.engine, name);
    const journal = (await readFile(join(dir, 'executions', `${name}.jsonl`), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; error?: string; at?: string });
    const timedOutAt = Date.parse(journal.find((r) => r.type === 'task-failed' && r.error === 'States.Timeout')!.at!);
    // 6 s after the request was sent; a timeout counted from the restart would come 6 s or more after it.
    expect(timedOutAt - ask.message.sentAt!.getTime()).toBeGreaterThanOrEqual(5950);
    expect(timedOutAt - restartedAt).toBeLessThan(5000);
    expect(second.bot.labels()).toEqual(['record-incident', 'report']);
  });

  it('a Retry wait cut short by the crash serves only what is left of it after the restart', async () => {
    const dir = await tempDir();
    const playbookDir = await playbookDirWith({
      'falco-incident': {
        StartAt: 'Step',
        States: {
          Step: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
            Parameters: { QueueUrl: '${ControlQueueUrl}', MessageBody: { kind: 'task', 'taskToken.$': '$$.Task.Token', action: 'record-incident', incidentId: 'inc-1', input: {} } },
            Retry: [{ ErrorEquals: ['sentinel.Transient'], IntervalSeconds: 6, MaxAttempts: 1 }],
            End: true,
          },
        },
      },
    });
    const first = await open(dir, { 'record-incident': () => ({ error: 'sentinel.Transient' }) }, { playbookDir });
    const name = executionName('retry');
    await first.engine.start('record', name, {});
    const failed = await waitForDelivery(first.bot, 'record-incident');
    await new Promise((r) => setTimeout(r, 3500));
    crash(first.engine);
    const second = await open(dir, {}, { playbookDir });
    expect((await waitForEnd(second.engine, name)).status).toBe('SUCCEEDED');
    const retried = second.bot.of('record-incident');
    expect(retried).toHaveLength(1);
    const waited = retried[0]!.message.sentAt!.getTime() - failed.message.sentAt!.getTime();
    // 6 s after the failure; a wait started afresh at the restart would end 9.5 s or more after it.
    expect(waited).toBeGreaterThanOrEqual(5900);
    expect(waited).toBeLessThan(8500);
  });

  it('a journal line cut short by the crash is set aside and the execution resumes', async () => {
    const dir = await tempDir();
    const first = await open(dir, { 'deny-egress': hang() });
    const name = executionName('torn');
    const triage = triageOf(loadFixture('fluentbit-reverse-shell.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    await waitForDelivery(first.bot, 'deny-egress');
    crash(first.engine);
    const journal = join(dir, 'executions', `${name}.jsonl`);
    await appendFile(journal, '{"type":"task-succeeded","seq":0,"outp');
    const second = await open(dir);
    expect((await waitForEnd(second.engine, name)).status).toBe('SUCCEEDED');
    expect(second.bot.labels()).toEqual(['deny-egress', 'record-incident', 'report']);
    expect(await readFile(`${journal}.torn`, 'utf8')).toContain('"outp');
  });

  it('a message the process dies on each time is dead-lettered after maxReceives deliveries, not delivered again', async () => {
    const dir = await tempDir();
    const name = executionName('poison');
    const triage = triageOf(loadFixture('fluentbit-exec-audit.json'));
    const options = { delivery: { maxReceives: 2 } };
    const first = await open(dir, { 'record-incident': hang() }, options);
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    await waitForDelivery(first.bot, 'record-incident');
    crash(first.engine);
    const second = await open(dir, { 'record-incident': hang() }, options);
    expect((await waitForDelivery(second.bot, 'record-incident')).message.receiveCount).toBe(2);
    crash(second.engine);
    const third = await open(dir, {}, options);
    const dlq = await waitFor(async () => (await readFile(join(dir, 'dlq.jsonl'), 'utf8').catch(() => '')) || undefined, { what: 'the DLQ' });
    expect(JSON.parse(dlq.trim())).toMatchObject({ executionName: name, receiveCount: 2, reason: expect.stringContaining('delivered 2 times without being done') });
    expect(third.bot.labels()).toEqual([]);
    expect(third.engine.running()).toEqual([name]);
  });

  it('one engine per directory: a second one is refused while the first runs (in this process or another live one); a stopped or dead holder frees it', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await expect(startEngine({ dir })).rejects.toMatchObject({ code: 'EngineDirLocked' });
    await first.engine.close();
    const second = await open(dir);
    await second.engine.close();
    // A lock held by another live process (here a sleeping child) is respected.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'engine.lock'), `${sleeper.pid}\n`);
      await expect(startEngine({ dir })).rejects.toMatchObject({ code: 'EngineDirLocked', message: expect.stringContaining(String(sleeper.pid)) });
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    // Its holder gone, the lock is taken over.
    await open(dir);
  });

  it('SIGKILL: a child process running the engine is killed mid-step; an engine started on its directory resumes and finishes, each step delivered the right number of times', async () => {
    const dir = await tempDir();
    const name = executionName('sigkill');
    const triage = triageOf(loadFixture('fluentbit-artifact-write.json'));
    const inputFile = join(await tempDir(), 'input.json');
    await writeFile(inputFile, JSON.stringify(playbookInput(name, triage)));
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./support/engineChild.ts', import.meta.url)), dir, name, inputFile, 'quarantine-file'], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { label?: string; receiveCount?: number });
    await waitFor(async () => lines().find((l) => l.label === 'quarantine-file'), { timeoutMs: 60_000, what: `the child to get quarantine-file (stderr: ${err.slice(-500)})` });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(lines().flatMap((l) => (l.label ? [l.label] : []))).toEqual(['extract-file', 'quarantine-file']);

    const after = await open(dir);
    expect((await waitForEnd(after.engine, name)).status).toBe('SUCCEEDED');
    expect(after.bot.labels()).toEqual(['quarantine-file', 'record-incident', 'report']);
    expect(after.bot.of('quarantine-file')[0]!.message.receiveCount).toBe(2);
    expect(await readdir(join(dir, 'executions'))).toEqual([`${name}.jsonl`]);
  });
});
