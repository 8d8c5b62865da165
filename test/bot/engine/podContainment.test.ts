/**
 * The pod containment playbook (deploy/statemachines/pod-containment.asl.json, route contain-pod)
 * run in-process by the embedded engine with this test in the bot's place (engineHarness.ts): a
 * GuardDuty EKS Runtime Monitoring finding's full run, an audit log finding's (node from the pod),
 * the cap's escalation, failures that do not stop later steps, and the node question's answers.
 * The same file passes the static checks in test/deploy/stateMachines.test.ts and runs on moto in
 * test/bot/eksPlaybook.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { executionName, playbookInput, startEngine, taskOf, tempDir, triageOf, waitForEnd, type Answer } from './engineHarness.js';

const engines: EmbeddedEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const sample = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/guardduty-eks/${name}`, import.meta.url), 'utf8')) as unknown;
const POD_NODE = 'ip-10-0-7-21.ap-northeast-2.compute.internal';
const isolated: Answer = (d) => ({ output: { action: 'isolate-pod', status: 'succeeded', summary: 'isolated', details: { ...(taskOf(d).input as object), node: POD_NODE } } });
const decide = (action: 'block' | 'allow'): Answer => () => ({ output: { action, by: 'discord:111', at: '2026-11-21T09:50:00.000Z' } });

async function run(fixture: string, answers: Record<string, Answer> = {}, input: { approvalTimeoutSeconds?: number; defaultDecision?: 'allow' | 'block' } = {}) {
  const { engine, bot } = await startEngine({ dir: await tempDir(), retryIntervalOverrideMs: 10 }, { 'isolate-pod': isolated, ...answers });
  engines.push(engine);
  const name = executionName('pod');
  const triage = triageOf(sample(fixture));
  expect(triage.route).toBe('contain-pod');
  const started = await engine.start(triage.route, name, playbookInput(name, triage, input));
  expect(started).toEqual({ started: true, executionArn: expect.stringContaining('pod-containment') });
  const end = await waitForEnd(engine, name);
  return { bot, end, triage };
}

type Incident = { actions: { action: string; status: string; summary: string }[]; decisions: { decision: string; by: string }[] };
const incidentOf = (bot: Awaited<ReturnType<typeof run>>['bot']) => bot.report()!.incident as unknown as Incident;

describe.concurrent('the pod containment playbook in the embedded engine', () => {
  it('a runtime reverse shell: isolates the pod, extracts and quarantines the executable, blocks the remote IP, and Block on the question isolates the node', async () => {
    const { bot, end, triage } = await run('runtime-reverse-shell.json', { 'approval:isolate-node': decide('block') });
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-pod', 'extract-file', 'quarantine-file', 'deny-egress', 'approval:isolate-node', 'isolate-node', 'record-incident', 'report']);
    expect(taskOf(bot.of('isolate-pod')[0]).input).toEqual({ namespace: 'shop', pod: 'web-7d9f8c6b5-k2x8p' });
    expect(taskOf(bot.of('extract-file')[0]).input).toEqual({ namespace: 'shop', pod: 'web-7d9f8c6b5-k2x8p', container: 'web', path: '/tmp/.font-unix/kthreadd' });
    expect(taskOf(bot.of('deny-egress')[0]).input).toMatchObject({ ip: '198.51.100.77', port: 4444, severity: 'high' });
    // The finding names the node: the question and the isolation are about it.
    const ask = bot.of('approval:isolate-node')[0]!;
    expect(ask.body).toMatchObject({ kind: 'approval-request', proposedAction: { action: 'isolate-node', input: { node: triage.target.node } } });
    expect(taskOf(bot.of('isolate-node')[0]).input).toEqual({ node: triage.target.node });
    const incident = incidentOf(bot);
    expect(incident.actions.map((a) => [a.action, a.status])).toEqual(
      expect.arrayContaining([['isolate-pod', 'succeeded'], ['extract-file', 'succeeded'], ['quarantine-file', 'succeeded'], ['deny-egress', 'succeeded'], ['isolate-node', 'succeeded']]),
    );
    expect(incident.decisions).toEqual([expect.objectContaining({ decision: 'block', by: 'discord:111' })]);
  });

  it('an audit log finding (no node, no remote IP): isolates the pod, then asks about the node the pod runs on; Allow isolates nothing more', async () => {
    const { bot, end } = await run('audit-privileged-container.json', { 'approval:isolate-node': decide('allow') });
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-pod', 'approval:isolate-node', 'record-incident', 'report']);
    expect(bot.of('approval:isolate-node')[0]!.body).toMatchObject({ proposedAction: { action: 'isolate-node', input: { node: POD_NODE } } });
    expect(incidentOf(bot).decisions).toEqual([expect.objectContaining({ decision: 'allow' })]);
  });

  it('no answer to the node question applies the default decision', async () => {
    const { bot, end } = await run('audit-privileged-container.json', { 'approval:isolate-node': () => 'no answer' }, { approvalTimeoutSeconds: 1, defaultDecision: 'block' });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-pod', 'approval:isolate-node', 'isolate-node', 'record-incident', 'report']);
    expect(taskOf(bot.of('isolate-node')[0]).input).toEqual({ node: POD_NODE });
    expect(incidentOf(bot).decisions).toEqual([expect.objectContaining({ decision: 'block', by: 'timeout' })]);
  });

  it('past the automatic cap the pod isolation is asked; Block runs it, and the rest of the playbook goes on', async () => {
    let calls = 0;
    const { bot, end } = await run('runtime-reverse-shell.json', {
      'isolate-pod': (d) => (++calls === 1 ? { error: 'sentinel.NeedsApproval.Cap', cause: 'the automatic containment cap is reached' } : isolated(d)),
      'approval:isolate-pod': decide('block'),
      'approval:isolate-node': decide('allow'),
    });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-pod', 'approval:isolate-pod', 'isolate-pod', 'extract-file', 'quarantine-file', 'deny-egress', 'approval:isolate-node', 'record-incident', 'report']);
    expect(bot.of('approval:isolate-pod')[0]!.body).toMatchObject({ proposedAction: { action: 'isolate-pod', input: { namespace: 'shop', pod: 'web-7d9f8c6b5-k2x8p' } } });
  });

  it('a refused or failed step is recorded and the playbook goes on: the pod in a protected namespace, a vanished executable, a refused block', async () => {
    const { bot, end } = await run('runtime-reverse-shell.json', {
      'isolate-pod': () => ({ error: 'sentinel.ProtectedTarget', cause: 'refusing to isolate a pod in kube-system' }),
      'extract-file': (d) => ({ output: { action: 'extract-file', status: 'skipped', summary: 'file not found in pod', details: { ...(taskOf(d).input as object), found: false } } }),
      'deny-egress': () => ({ error: 'sentinel.ProtectedTarget', cause: 'refusing to deny egress to 198.51.100.77: in the allowlist' }),
      'approval:isolate-node': decide('allow'),
    });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['isolate-pod', 'extract-file', 'quarantine-file', 'deny-egress', 'approval:isolate-node', 'record-incident', 'report']);
    const byAction = Object.fromEntries(incidentOf(bot).actions.map((a) => [a.action, a]));
    expect(byAction['isolate-pod']).toMatchObject({ status: 'failed', summary: expect.stringContaining('sentinel.ProtectedTarget') });
    expect(byAction['extract-file']).toMatchObject({ status: 'skipped' });
    expect(byAction['deny-egress']).toMatchObject({ status: 'failed', summary: expect.stringContaining('allowlist') });
  });

  it('a node whose stop would lose memory is isolated on the network only, after Block', async () => {
    const { bot, end, triage } = await run('runtime-reverse-shell.json', {
      'approval:isolate-node': decide('block'),
      'isolate-node': (d) => ((taskOf(d).input as { stopInstance?: boolean }).stopInstance === false ? undefined : { error: 'sentinel.MemoryNotPreserved', cause: 'would destroy memory' }),
    });
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.of('isolate-node').map((d) => taskOf(d).input)).toEqual([{ node: triage.target.node }, { node: triage.target.node, stopInstance: false }]);
  });
});
