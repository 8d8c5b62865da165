/**
 * The Falco incident playbook (deploy/statemachines/falco-incident.asl.json) run in-process by the
 * embedded engine, this test in the bot's place (engineHarness.ts): every route, the approval's
 * Allow, Block and timeout, Retry on sentinel.Transient and Catch. The same file passes the moto
 * runs in test/deploy.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { loadFixture } from '../../helpers/events.js';
import { executionName, playbookInput, startEngine, taskOf, tempDir, triageOf, waitForDelivery, waitForEnd } from './engineHarness.js';

const engines: EmbeddedEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function run(fixture: string, options: Parameters<typeof startEngine>[1] = {}, input: { approvalTimeoutSeconds?: number; defaultDecision?: 'allow' | 'block' } = {}) {
  const { engine, bot } = await startEngine({ dir: await tempDir(), retryIntervalOverrideMs: 10 }, options);
  engines.push(engine);
  const name = executionName('falco');
  const triage = triageOf(loadFixture(fixture));
  const started = await engine.start(triage.route, name, playbookInput(name, triage, input));
  expect(started).toEqual({ started: true, executionArn: expect.stringContaining(name) });
  const end = await waitForEnd(engine, name);
  return { engine, bot, name, triage, end };
}

const actionsOf = (bot: Awaited<ReturnType<typeof run>>['bot']) => (bot.report()?.incident as { actions?: { action: string; status: string; summary: string }[] } | undefined)?.actions ?? [];

describe.concurrent('the Falco incident playbook in the embedded engine', () => {
  it('file-artifact: extracts the file, quarantines it, records and reports', async () => {
    const { bot, end, triage } = await run('fluentbit-artifact-write.json');
    expect(triage.route).toBe('file-artifact');
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['extract-file', 'quarantine-file', 'record-incident', 'report']);
    expect(taskOf(bot.of('extract-file')[0]).input).toMatchObject({ path: triage.artifact!.path });
    expect(actionsOf(bot).map((a) => [a.action, a.status])).toEqual(expect.arrayContaining([['extract-file', 'succeeded'], ['quarantine-file', 'succeeded'], ['record-incident', 'succeeded']]));
  });

  it('block-egress: denies the IP, records and reports', async () => {
    const { bot, end, triage } = await run('fluentbit-reverse-shell.json');
    expect(triage.route).toBe('block-egress');
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['deny-egress', 'record-incident', 'report']);
    expect(taskOf(bot.of('deny-egress')[0]).input).toMatchObject({ ip: triage.ioc!.ip });
  });

  it('isolate-node: isolates the node, records and reports', async () => {
    const { bot, end, triage } = await run('fluentbit-raw-message-webshell.json');
    expect(triage.route).toBe('isolate-node');
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-node', 'record-incident', 'report']);
  });

  it('record: only records and reports', async () => {
    const { bot, end, triage } = await run('fluentbit-exec-audit.json');
    expect(triage.route).toBe('record');
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['record-incident', 'report']);
  });

  it('each task message carries the execution name, when its state was entered, and a token that works once', async () => {
    const { bot, engine, name } = await run('fluentbit-reverse-shell.json');
    const deny = bot.of('deny-egress')[0]!;
    const msg = taskOf(deny);
    expect(msg.executionName).toBe(name);
    expect(Date.parse(msg.enteredAt!)).toBeLessThanOrEqual(deny.at);
    expect(Date.now() - Date.parse(msg.enteredAt!)).toBeLessThan(60_000);
    expect(msg.timeoutSeconds).toBe(900);
    expect(deny.message.sentAt!.getTime()).toBeGreaterThanOrEqual(Date.parse(msg.enteredAt!));
    // The step was answered: its token no longer waits.
    await expect(engine.taskSucceeded(msg.taskToken, { again: true })).rejects.toMatchObject({ name: 'TaskGoneError', code: 'TaskDoesNotExist' });
    // Every task has its own token.
    expect(new Set(bot.deliveries.map((d) => (d.body as { taskToken?: string }).taskToken).filter(Boolean)).size).toBe(2);
  });

  it('approval, Block: the approval request carries the proposed isolation; Block isolates the node', async () => {
    const { bot, end, triage } = await run('fluentbit-artifact-exec.json', {
      'approval:isolate-node': () => ({ output: { action: 'block', by: 'discord:111', at: '2026-11-20T03:25:00.000Z' } }),
    });
    expect(triage.route).toBe('approval');
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['approval:isolate-node', 'isolate-node', 'record-incident', 'report']);
    const ask = bot.of('approval:isolate-node')[0]!;
    expect(ask.body).toMatchObject({ kind: 'approval-request', timeoutSeconds: 3600, proposedAction: { action: 'isolate-node' } });
    expect((bot.report()!.incident as { decisions: unknown[] }).decisions).toEqual([expect.objectContaining({ decision: 'block', by: 'discord:111' })]);
  });

  it('approval, Allow: nothing is isolated; the decision is recorded and reported', async () => {
    const { bot, end } = await run('fluentbit-artifact-exec.json', {
      'approval:isolate-node': () => ({ output: { action: 'allow', by: 'discord:111', at: '2026-11-20T03:25:00.000Z' } }),
    });
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['approval:isolate-node', 'record-incident', 'report']);
    expect((bot.report()!.incident as { decisions: unknown[] }).decisions).toEqual([expect.objectContaining({ decision: 'allow' })]);
  });

  it('approval, no answer: after the approval timeout (TimeoutSecondsPath) the default decision applies', async () => {
    const started = Date.now();
    const { bot, end } = await run('fluentbit-artifact-exec.json', { 'approval:isolate-node': () => 'no answer' }, { approvalTimeoutSeconds: 1, defaultDecision: 'block' });
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(bot.labels()).toEqual(['approval:isolate-node', 'isolate-node', 'record-incident', 'report']);
    const decisions = (bot.report()!.incident as { decisions: { decision: string; by: string; at: string }[] }).decisions;
    expect(decisions).toEqual([expect.objectContaining({ decision: 'block', by: 'timeout' })]);
  });

  it('approval, no answer, default allow: the timeout isolates nothing', async () => {
    const { bot, end } = await run('fluentbit-artifact-exec.json', { 'approval:isolate-node': () => 'no answer' }, { approvalTimeoutSeconds: 1, defaultDecision: 'allow' });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['approval:isolate-node', 'record-incident', 'report']);
  });

  it('a late answer to a timed-out approval is refused with TaskTimedOut', async () => {
    const { engine, bot } = await startEngine({ dir: await tempDir() }, { 'approval:isolate-node': () => 'no answer' });
    engines.push(engine);
    const name = executionName('falco');
    const triage = triageOf(loadFixture('fluentbit-artifact-exec.json'));
    await engine.start(triage.route, name, playbookInput(name, triage, { approvalTimeoutSeconds: 1 }));
    const ask = await waitForDelivery(bot, 'approval:isolate-node');
    await waitForEnd(engine, name);
    const token = (ask.body as { taskToken: string }).taskToken;
    await expect(engine.taskSucceeded(token, { action: 'block', by: 'discord:1', at: new Date().toISOString() })).rejects.toMatchObject({ name: 'TaskGoneError', code: 'TaskTimedOut' });
  });

  it('Retry: sentinel.Transient is retried (MaxAttempts 3), then the step succeeds and the playbook goes on', async () => {
    let calls = 0;
    const { bot, end } = await run('fluentbit-artifact-write.json', { 'extract-file': () => (++calls < 3 ? { error: 'sentinel.Transient' } : undefined) });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['extract-file', 'extract-file', 'extract-file', 'quarantine-file', 'record-incident', 'report']);
    // Each attempt has its own token.
    expect(new Set(bot.of('extract-file').map((d) => taskOf(d).taskToken)).size).toBe(3);
  });

  it('Retry runs out after MaxAttempts; Catch (States.ALL) records the error and goes to RecordIncident', async () => {
    const { bot, end } = await run('fluentbit-artifact-write.json', { 'extract-file': () => ({ error: 'sentinel.Transient', cause: 'the pod API timed out' }) });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['extract-file', 'extract-file', 'extract-file', 'extract-file', 'record-incident', 'report']);
    const recorded = taskOf(bot.of('record-incident')[0]).input as { error?: { Error: string; Cause: string } };
    expect(recorded.error).toEqual({ Error: 'sentinel.Transient', Cause: 'the pod API timed out' });
  });

  it('a final error is not retried: Catch takes it at once', async () => {
    const { bot, end } = await run('fluentbit-artifact-write.json', { 'extract-file': () => ({ error: 'sentinel.ProtectedTarget', cause: 'protected namespace' }) });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['extract-file', 'record-incident', 'report']);
    expect((taskOf(bot.of('record-incident')[0]).input as { error?: unknown }).error).toEqual({ Error: 'sentinel.ProtectedTarget', Cause: 'protected namespace' });
  });

  it('a failing record-incident is caught by RecordFailed and the report still goes out', async () => {
    const { bot, end } = await run('fluentbit-exec-audit.json', { 'record-incident': () => ({ error: 'sentinel.AccessDenied' }) });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['record-incident', 'report']);
    expect(actionsOf(bot)).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'record-incident', status: 'failed' })]));
  });

  it('starting the same execution name again is harmless: {started: false}, and nothing runs twice', async () => {
    const { engine, bot, name, triage } = await run('fluentbit-exec-audit.json');
    const again = await engine.start(triage.route, name, playbookInput(name, triage));
    expect(again).toEqual({ started: false, executionArn: expect.stringContaining(name) });
    await new Promise((r) => setTimeout(r, 100));
    expect(bot.labels()).toEqual(['record-incident', 'report']);
  });
});
