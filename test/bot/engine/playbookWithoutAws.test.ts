/**
 * A playbook step whose AWS action cannot run (no AWS at all: embedded mode with only the local
 * object store) succeeds with the "AWS not configured" plan, and the playbook goes on: the Falco
 * incident playbook (deploy/statemachines/falco-incident.asl.json) runs in the embedded engine on
 * a reverse-shell event; deny-egress and record-incident are the real actions through
 * invokeAction, answered as src/handlers/handleTask.ts answers (failed → taskFailed with
 * sentinel.<code>; anything else → taskSucceeded with `{ action, ...result }`). The report the
 * playbook sends renders the planned block (as src/handlers/handleReport.ts renders it).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { renderReport } from '../../../src/handlers/render/reportMessage.js';
import { createLocalObjectStore, localS3Client, type LocalObjectStore } from '../../../src/aws/localObjectStore.js';
import { loadAllActions } from '../../../src/pipeline/actions/registry.js';
import { buildIncidentRecord } from '../../../src/pipeline/incident/incidentRecord.js';
import type { ActionDeps } from '../../../src/pipeline/actions/types.js';
import { invokeAction, type FailedDetails } from '../../../src/pipeline/invokeAction.js';
import { loadFixture } from '../../helpers/events.js';
import { testDeps, testSettings } from '../../helpers/deps.js';
import { executionName, playbookInput, startEngine, taskOf, tempDir, triageOf, waitForEnd, type Delivery, type Reply } from './engineHarness.js';

const ACTIONS = await loadAllActions();
let dataDir: string;
let store: LocalObjectStore;
let deps: ActionDeps;
const engines: EmbeddedEngine[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sentinel-playbook-no-aws-'));
  store = createLocalObjectStore(dataDir);
  deps = testDeps({ aws: { s3: localS3Client(store) }, settings: testSettings({ evidenceBucket: 'sentinel-evidence' }) });
});
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(dataDir, { recursive: true, force: true });
});

/** The real action, answered as handleTask answers it. */
async function runForReal(d: Delivery): Promise<Reply> {
  const msg = taskOf(d);
  const result = await invokeAction(ACTIONS[msg.action]!, msg.input, { actor: `stepfunctions:${msg.executionName}`, incidentId: msg.incidentId }, deps);
  if (result.status === 'failed') return { error: `sentinel.${(result.details as Partial<FailedDetails>).error ?? 'ActionFailed'}`, cause: result.summary };
  return { output: { action: msg.action, ...result } };
}

describe('a playbook without AWS', () => {
  it('reverse shell: deny-egress answers with its plan, the step succeeds, the incident is recorded and the report shows the planned block', async () => {
    const { engine, bot } = await startEngine({ dir: await tempDir() }, { 'deny-egress': runForReal, 'record-incident': runForReal });
    engines.push(engine);
    const name = executionName('no-aws');
    const triage = triageOf(loadFixture('fluentbit-reverse-shell.json'));
    await engine.start(triage.route, name, playbookInput(name, triage));
    const end = await waitForEnd(engine, name);

    expect(bot.problems).toEqual([]);
    expect(end.status).toBe('SUCCEEDED');
    expect(bot.labels()).toEqual(['deny-egress', 'record-incident', 'report']);
    const deny = bot.of('deny-egress')[0]!.reply as { output: { status: string; summary: string; details: Record<string, unknown> } };
    expect(deny.output.status).toBe('skipped');
    expect(deny.output.summary).toMatch(new RegExp(`^AWS not configured: deny-egress would deny TCP egress .*ip=${triage.ioc!.ip.replace(/\./g, '\\.')}.*; needs EC2$`));
    expect(deny.output.details).toMatchObject({ awsNotConfigured: true, dryRun: true, plan: { action: 'deny-egress', needs: ['EC2'], input: expect.objectContaining({ ip: triage.ioc!.ip }) } });

    // The incident record (in the local store) carries the plan.
    const recorded = bot.of('record-incident')[0]!.reply as { output: { status: string; details: { location: string } } };
    expect(recorded.output.status).toBe('succeeded');
    const doc = JSON.parse(await readFile(store.pathOfLocation(recorded.output.details.location)!, 'utf8'));
    expect(doc.actions).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'deny-egress', status: 'skipped', details: expect.objectContaining({ awsNotConfigured: true }) })]));

    // The report message, rendered as src/handlers/handleReport.ts renders it.
    const report = bot.report()!;
    const m = renderReport({ incident: buildIncidentRecord(report.incident, 'sentinel', new Date()), record: { location: recorded.output.details.location } });
    const actions = m.embeds.flatMap((e) => e.fields ?? []).find((f) => f.name === 'Actions')?.value ?? '';
    expect(actions).toMatch(/^☁️ `deny-egress` AWS not configured, plan only: would deny TCP egress to one IP address/m);
    expect(m.embeds[0]?.description).toContain('✅ completed');
  });
});
