/**
 * The EC2 forensics and notify playbooks (deploy/statemachines) run in-process by the embedded
 * engine, this test in the bot's place (engineHarness.ts). The same files pass the moto runs in
 * test/deploy/forensicsPlaybook.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { guardDutyEvent, loadFixture } from '../../helpers/events.js';
import { CLOUDTRAIL_LOCATION, DISK_ARTIFACT, FORENSIC_INSTANCE, INSTANCE, SNAPSHOTS, executionName, playbookInput, startEngine, taskOf, tempDir, triageOf, volatileEvidence, waitForEnd, type Answer } from './engineHarness.js';

const REMOTE_IP = '198.51.100.23';
const FORENSICS = { forensicInstanceId: FORENSIC_INSTANCE, limeModuleBucket: 'sentinel-lime-modules', memoryCaptureTimeoutSeconds: 600, stopInstance: true };

const engines: EmbeddedEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function run(event: unknown, answers: Record<string, Answer> = {}, options: { approvalTimeoutSeconds?: number; forensics?: typeof FORENSICS | Partial<typeof FORENSICS> } = {}) {
  const { engine, bot } = await startEngine({ dir: await tempDir(), retryIntervalOverrideMs: 10 }, answers);
  engines.push(engine);
  const name = executionName('gd');
  const triage = triageOf(event);
  await engine.start(triage.route, name, playbookInput(name, triage, { forensics: (options.forensics ?? FORENSICS) as typeof FORENSICS, ...(options.approvalTimeoutSeconds ? { approvalTimeoutSeconds: options.approvalTimeoutSeconds } : {}) }));
  const end = await waitForEnd(engine, name, 30_000);
  return { bot, end, name };
}

type Action = { action: string; status: string; summary: string };
const outcome = (bot: Awaited<ReturnType<typeof run>>['bot'], action: string) =>
  ((bot.report()?.incident as { actions?: Action[] } | undefined)?.actions ?? []).filter((a) => a.action === action).map((a) => ({ status: a.status, summary: a.summary }));

describe.concurrent('the EC2 forensics playbook in the embedded engine', () => {
  it('runs every step in order, each input accepted by its action, and reports each result', async () => {
    const { bot, end } = await run(guardDutyEvent({ instanceId: INSTANCE, remoteIp: REMOTE_IP, remotePort: 4444 }));
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual([
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
    // HeartbeatSecondsPath reaches the step that must heartbeat.
    expect(taskOf(bot.of('collect-volatile')[0]).heartbeatSeconds).toBeGreaterThan(0);
    expect(taskOf(bot.of('isolate-node')[0]).memory).toEqual({ captured: true });
    // Pass states with [*] paths and the Map over the volatile evidence, as Step Functions evaluates them.
    expect(taskOf(bot.of('collect-disk')[0]).input).toEqual({ instanceId: INSTANCE, forensicInstanceId: FORENSIC_INSTANCE, snapshotIds: SNAPSHOTS });
    const pull = taskOf(bot.of('pull-cloudtrail')[0]).input as { since: string; until: string };
    expect(taskOf(bot.of('analyse')[0]).input).toEqual({
      window: { since: pull.since, until: pull.until },
      findingRemoteIp: REMOTE_IP,
      artifacts: [
        { kind: 'volatile:processes', location: volatileEvidence('processes', 'a').location, sha256: 'a'.repeat(64) },
        { kind: 'volatile:network-connections', location: volatileEvidence('network-connections', 'b').location, sha256: 'b'.repeat(64) },
        DISK_ARTIFACT,
        { kind: 'cloudtrail', location: CLOUDTRAIL_LOCATION, sha256: 'e'.repeat(64) },
      ],
    });
    expect(bot.report()).toBeDefined();
  });

  it('failing steps are retried, caught, recorded and reported, and the playbook goes on', async () => {
    const { bot, end } = await run(guardDutyEvent({ instanceId: INSTANCE }), {
      'collect-volatile': () => ({ error: 'sentinel.VolatileCollectionFailed' }),
      'pull-cloudtrail': () => ({ error: 'sentinel.AccessDenied' }),
      analyse: () => ({ error: 'sentinel.Transient' }),
    });
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual([
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
    expect(outcome(bot, 'collect-volatile')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.VolatileCollectionFailed') }]);
    expect(outcome(bot, 'pull-cloudtrail')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.AccessDenied') }]);
    expect(outcome(bot, 'analyse')).toEqual([{ status: 'failed', summary: expect.stringContaining('sentinel.Transient') }]);
  });

  it('a failed capture asks for a waiver; with no answer the stop is refused (sentinel.MemoryNotPreserved, a named Catch) and only the network is isolated', async () => {
    const { bot, end } = await run(
      guardDutyEvent({ instanceId: INSTANCE }),
      {
        'capture-memory': () => ({ error: 'sentinel.NoLimeModule' }),
        'approval:waive-memory-capture': () => 'no answer',
        'isolate-node': (d) => (taskOf(d).input as { stopInstance?: boolean }).stopInstance && !taskOf(d).memory?.captured ? { error: 'sentinel.MemoryNotPreserved' } : undefined,
      },
      { approvalTimeoutSeconds: 1, forensics: { ...FORENSICS, forensicInstanceId: undefined } },
    );
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['notify', 'collect-volatile', 'capture-memory', 'approval:waive-memory-capture', 'preserve-disk', 'isolate-node', 'isolate-node', 'pull-cloudtrail', 'analyse', 'record-incident', 'report']);
    const [withStop, networkOnly] = bot.of('isolate-node').map(taskOf);
    expect(withStop!.input).toEqual({ node: INSTANCE, stopInstance: true });
    expect(networkOnly!.input).toEqual({ node: INSTANCE, stopInstance: false });
    expect(bot.of('approval:waive-memory-capture')[0]!.body).toMatchObject({ timeoutSeconds: 1 });
  });
});

describe('the notify playbook in the embedded engine', () => {
  it('sends one notify message and ends', async () => {
    const { bot, end, name } = await run(loadFixture('guardduty-iam-credential-exfiltration.json'));
    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['notify']);
    expect(bot.of('notify')[0]!.body).toMatchObject({ kind: 'notify', incident: { executionName: name, incidentId: `inc-${name}` } });
    // A plain sendMessage has no token: the bot only posts it.
    expect(bot.of('notify')[0]!.body).not.toHaveProperty('taskToken');
  });
});
