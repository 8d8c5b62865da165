/**
 * One definition of each playbook: the embedded engine runs exactly the files in
 * deploy/statemachines, read by the same loader `sentinel provision` deploys to Step Functions
 * with; a copy with a changed Choice or Comment changes what the engine runs. An execution in
 * flight keeps the definition it started with across a restart (as Step Functions pins it).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedEngine } from '../../../src/bot/engine/embeddedEngine.js';
import { defaultPlaybookDir } from '../../../src/bot/engine/loadEmbeddedPlaybooks.js';
import { EMBEDDED_QUEUE_URL } from '../../../src/bot/engine/prepareEmbeddedPlaybook.js';
import { loadStateMachineDefinitions } from '../../../src/provision/loadStateMachines.js';
import { packageRoot } from '../../../src/util/packageRoot.js';
import { loadFixture } from '../../helpers/events.js';
import { executionName, playbookCopy, playbookInput, startEngine, tempDir, triageOf, waitForDelivery, waitForEnd, type Answer } from './engineHarness.js';

const engines: EmbeddedEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function open(options: { dir?: string; playbookDir?: string }, answers: Record<string, Answer> = {}) {
  const r = await startEngine({ dir: options.dir ?? (await tempDir()), ...(options.playbookDir ? { playbookDir: options.playbookDir } : {}) }, answers);
  engines.push(r.engine);
  return r;
}

const storedDefinitions = async (dir: string) => Promise.all((await readdir(join(dir, 'definitions'))).map((f) => readFile(join(dir, 'definitions', f), 'utf8')));

describe.concurrent('embedded engine: one definition of each playbook', () => {
  it('loads exactly the files of deploy/statemachines, as the provisioning loader reads them', async () => {
    expect(defaultPlaybookDir()).toBe(join(packageRoot(), 'deploy', 'statemachines'));
    const files = (await readdir(defaultPlaybookDir())).filter((f) => f.endsWith('.asl.json')).map((f) => f.slice(0, -'.asl.json'.length));
    const dir = await tempDir();
    const { engine } = await open({ dir });
    expect(engine.playbooks().sort()).toEqual(files.sort());

    // What an execution runs (and journals) is the loader's text of the file, byte for byte.
    const name = executionName('one');
    const triage = triageOf(loadFixture('fluentbit-exec-audit.json'));
    await engine.start(triage.route, name, playbookInput(name, triage));
    await waitForEnd(engine, name);
    const deployed = (await loadStateMachineDefinitions(EMBEDDED_QUEUE_URL)).find((d) => d.name === 'falco-incident')!.definition;
    expect(await storedDefinitions(dir)).toEqual([deployed]);
    const started = JSON.parse((await readFile(join(dir, 'executions', `${name}.jsonl`), 'utf8')).split('\n')[0]!) as { machine: string };
    expect(started.machine).toBe('falco-incident');
  });

  it('a changed Choice in a copy of the files changes what the engine does', async () => {
    const playbookDir = await playbookCopy('falco-incident', (doc) => {
      // file-artifact now goes to DenyEgress instead of ExtractFile.
      doc.States.Route.Choices.find((c: { StringEquals: string }) => c.StringEquals === 'file-artifact').Next = 'DenyEgress';
    });
    const triage = triageOf(loadFixture('fluentbit-artifact-write.json'));
    const run = async (options: { playbookDir?: string }) => {
      const { engine, bot } = await open(options);
      const name = executionName('choice');
      await engine.start(triage.route, name, playbookInput(name, triage));
      await waitForEnd(engine, name);
      return bot.labels();
    };
    expect(await run({})).toEqual(['extract-file', 'quarantine-file', 'record-incident', 'report']);
    expect(await run({ playbookDir })).toEqual(['deny-egress', 'record-incident', 'report']);
  });

  it('a changed Comment is the definition the engine runs and journals', async () => {
    const playbookDir = await playbookCopy('notify', (doc) => {
      doc.Comment = 'edited by the one-definition test';
    });
    const dir = await tempDir();
    const { engine } = await open({ dir, playbookDir });
    const name = executionName('comment');
    const triage = triageOf(loadFixture('guardduty-iam-credential-exfiltration.json'));
    await engine.start(triage.route, name, playbookInput(name, triage));
    await waitForEnd(engine, name);
    expect((await storedDefinitions(dir)).map((d) => (JSON.parse(d) as { Comment: string }).Comment)).toEqual(['edited by the one-definition test']);
  });

  it('an execution in flight keeps the definition it started with when the files change before a restart', async () => {
    const dir = await tempDir();
    const first = await open({ dir }, { 'approval:isolate-node': () => 'no answer' });
    const name = executionName('pinned');
    const triage = triageOf(loadFixture('fluentbit-artifact-exec.json'));
    await first.engine.start(triage.route, name, playbookInput(name, triage));
    const ask = await waitForDelivery(first.bot, 'approval:isolate-node');
    void first.engine.close();
    // The files change: Block would now only record. The execution in flight still isolates.
    const playbookDir = await playbookCopy('falco-incident', (doc) => {
      doc.States.CheckDecision.Choices[0].Next = 'RecordIncident';
    });
    const second = await open({ dir, playbookDir });
    await second.engine.taskSucceeded((ask.body as { taskToken: string }).taskToken, { action: 'block', by: 'discord:1', at: new Date().toISOString() });
    await waitForEnd(second.engine, name);
    expect(second.bot.labels()).toEqual(['isolate-node', 'record-incident', 'report']);
    // A new execution runs the changed files.
    const next = executionName('changed');
    await second.engine.start(triage.route, next, playbookInput(next, triage, { approvalTimeoutSeconds: 1, defaultDecision: 'block' }));
    await waitForEnd(second.engine, next);
    expect(second.bot.labels().slice(3)).toEqual(['approval:isolate-node', 'record-incident', 'report']);
  });
});
