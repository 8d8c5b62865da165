/**
 * File containment an attacker can neither evade nor aim, end to end: the real bot, moto's Step
 * Functions running deploy/statemachines/falco-incident.asl.json, S3 on moto, the fake Discord
 * and the fake Kubernetes API (pods are directories running real programs).
 *
 * - A file name that makes Falco's text ambiguous (`a proc=x cmdline=.php`) is not dropped: the
 *   playbook asks for approval listing every candidate; Block extracts and quarantines the ones
 *   inside the roots.
 * - A file swapped inside the storm window (harmless first, the real one after quarantine) is
 *   extracted and quarantined again by the repeat; a storm of repeats runs a bounded number of times.
 */
import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/stores/auditLog.js';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import { waitFor } from '../support/aws.js';
import type { FakePod } from '../support/fakeKube/index.js';
import { createBotHarness, parseLogs, POD_CONTAINER, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, kv } from '../helpers/events.js';

const TIMEOUT_MS = 240_000;
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

let h: BotHarness;
let podCount = 0;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, loadPlaybookConfig(undefined));
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

/** A pod of its own for each scenario, on the harness node. */
function newPod(files: Record<string, string>): FakePod {
  podCount += 1;
  return h.kube.addPod({ namespace: POD_NAMESPACE, name: `files-${podCount}-${Date.now().toString(36)}`, containers: [POD_CONTAINER], nodeName: h.node.name, files });
}

function uploadMove(pod: FakePod, dst: string, src = '/tmp/phpA1b2C3') {
  return fluentBitLine(`DVWA_UPLOAD_MOVE ${kv({ src, dst, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: POD_CONTAINER, pod: pod.name, ns: POD_NAMESPACE })}`, {
    host: h.node.name,
  });
}

function artifactWrite(pod: FakePod, path: string) {
  return fluentBitLine(
    `ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: path, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: POD_CONTAINER, container_id: '3f2a9c1b7d4e', pod: pod.name, ns: POD_NAMESPACE, node: h.node.name })}`,
    { host: h.node.name, priority: 'Warning' },
  );
}

/** The one execution started for this triage, once it has finished. */
async function finishedRun(triage: TriageResult) {
  const prefix = executionNameFor(triage.dedupeKey, new Date(0)).replace(/-0$/, '');
  const execution = await waitFor(async () => (await h.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 90_000, what: `the execution for ${triage.rule}` });
  const done = await h.finished(execution.executionArn!, 120_000);
  expect(done.status).toBe('SUCCEEDED');
  const input = JSON.parse(done.input!) as { incidentId: string };
  return { executionArn: execution.executionArn!, incidentId: input.incidentId, output: JSON.parse(done.output!) as { results: Record<string, { status: string; details: Record<string, unknown> }>; decision?: { action: string } } };
}

async function incidentDone(incidentId: string): Promise<void> {
  await waitFor(
    async () => {
      const s = await h.bot.context.incidents.get(incidentId);
      return s?.status === 'done' || s?.status === 'failed' ? s : undefined;
    },
    { timeoutMs: 90_000, what: `the report of ${incidentId}` },
  );
}

async function evidenceKeys(incidentId: string): Promise<string[]> {
  const out = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: `evidence/${incidentId}/` }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function recontained(incidentId: string): Promise<AuditEntry[]> {
  return h.bot.context.audit.readAudit({ incidentId, what: 'file-recontained' });
}

const approvalId = (m: APIMessage) => /^apv:([A-Za-z0-9_-]+):/.exec(JSON.stringify(m.components).match(/apv:[A-Za-z0-9_-]+:block/)?.[0] ?? '')?.[1];

describe('a file name that makes the output text ambiguous', () => {
  it('ends in an approval listing every candidate; Block extracts and quarantines the real file, the other reading is found missing', { timeout: TIMEOUT_MS }, async () => {
    const real = '/var/www/html/uploads/a proc=x cmdline=.php';
    const content = '<?php system($_GET["c"]); ?>';
    const pod = newPod({ [real]: content, '/var/www/html/index.php': 'index' });
    const event = uploadMove(pod, real);
    const triage = triageOf(event);
    expect(triage.artifact?.candidates).toEqual(['/var/www/html/uploads/a', real]);

    await h.send(event);

    const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(pod.name), 90_000);
    const fields = approval.embeds[0]?.fields ?? [];
    const list = fields.find((f) => f.name.startsWith('File path: 2 possible readings'));
    expect(list?.value.split('\n')).toEqual(['1. `/var/www/html/uploads/a`', `2. \`${real}\``]);
    expect(fields.find((f) => f.name === 'Proposed action')?.value).toMatch(/^`quarantine-file` on every candidate reading/);
    // The preflight is quarantine-file's dry run on the candidates: nothing moved yet.
    expect(fields.find((f) => f.name === 'Preflight')?.value).toMatch(/would quarantine 1 of 2 candidate paths/);
    expect(pod.exists(real)).toBe(true);

    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId(approval)}:block` });
    expect((await click.waitForResponse()).type).toBe(6);

    const run = await finishedRun(triage);
    expect(run.output.decision?.action).toBe('block');
    const extract = run.output.results.extractFile!;
    const quarantine = run.output.results.quarantineFile!;
    expect(extract.status).toBe('succeeded');
    expect(quarantine.status).toBe('succeeded');
    expect((quarantine.details.candidates as { path: string; status: string }[]).map((c) => [c.path, c.status])).toEqual([
      ['/var/www/html/uploads/a', 'skipped'],
      [real, 'succeeded'],
    ]);
    expect(await evidenceKeys(run.incidentId)).toEqual([`evidence/${run.incidentId}/${sha256(content)}/a_proc_x_cmdline_.php`]);
    const dir = h.config.pipeline.quarantineDir;
    expect(pod.exists(real)).toBe(false);
    expect(pod.list(dir)).toEqual([`${dir}/quarantine_${sha256(content).slice(0, 12)}_a_proc_x_cmdline_.php`]);
    expect(pod.readText('/var/www/html/index.php')).toBe('index');

    // A responder chose Block for these candidates: a repeat after the file is put back is contained again without asking.
    await incidentDone(run.incidentId);
    pod.writeFile(real, '<?php passthru($_GET["c"]);');
    await h.send(event);
    const [entry] = await waitFor(async () => ((await recontained(run.incidentId)).length ? recontained(run.incidentId) : undefined), { timeoutMs: 60_000, what: 'the repeat run' });
    expect(entry).toMatchObject({ outcome: 'succeeded', detail: { input: { candidates: ['/var/www/html/uploads/a', real] } } });
    expect(pod.exists(real)).toBe(false);
    expect(pod.list(dir)).toHaveLength(2);
  });

  it('a repeat of an ambiguous path nobody chose to block is counted, not contained', { timeout: TIMEOUT_MS }, async () => {
    const real = '/srv/up/b proc=x cmdline=.php';
    const pod = newPod({ [real]: 'x' });
    const event = uploadMove(pod, real);
    await h.send(event);
    const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(pod.name), 90_000);
    const incidentId = /incident (inc-[0-9a-f]+)/.exec(approval.embeds[0]?.footer?.text ?? '')?.[1];
    expect(incidentId).toBeDefined();
    await h.send(event);
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId!))?.count === 2 ? true : undefined), { timeoutMs: 60_000, what: 'the repeat counted' });
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'the intake queue drained' });
    expect(await recontained(incidentId!)).toEqual([]);
    expect(pod.readText(real)).toBe('x');
    const logged = parseLogs(h.logs).filter((l) => l.incidentId === incidentId && l.message === 'repeat of a file incident: not contained again');
    expect(logged.map((l) => l.reason)).toEqual(['the file path has several readings and no responder has chosen Block for them']);
  });
});

describe('a file replaced inside the storm window', () => {
  it('is extracted and quarantined again by the repeat: the harmless file first, the real one after it', { timeout: TIMEOUT_MS }, async () => {
    const path = '/var/www/html/uploads/shell.php';
    const pod = newPod({ [path]: 'harmless' });
    const event = artifactWrite(pod, path);
    await h.send(event);
    const run = await finishedRun(triageOf(event));
    expect(run.output.results.quarantineFile?.status).toBe('succeeded');
    await incidentDone(run.incidentId);
    const dir = h.config.pipeline.quarantineDir;
    expect(pod.list(dir)).toEqual([`${dir}/quarantine_${sha256('harmless').slice(0, 12)}_shell.php`]);

    // The real shell, uploaded to the same path; Falco fires the same event again.
    pod.writeFile(path, '<?php eval($_POST["x"]);');
    await h.send(event);

    const [entry] = await waitFor(async () => ((await recontained(run.incidentId)).length ? recontained(run.incidentId) : undefined), { timeoutMs: 60_000, what: 'the repeat run' });
    expect(entry).toMatchObject({ who: 'sentinel', outcome: 'succeeded' });
    const real = `${dir}/quarantine_${sha256('<?php eval($_POST["x"]);').slice(0, 12)}_shell.php`;
    expect(pod.exists(path)).toBe(false);
    expect(pod.list(dir)).toEqual([`${dir}/quarantine_${sha256('harmless').slice(0, 12)}_shell.php`, real].sort());
    expect(pod.mode(real)).toBe(0);
    expect(await evidenceKeys(run.incidentId)).toEqual(
      [`evidence/${run.incidentId}/${sha256('harmless')}/shell.php`, `evidence/${run.incidentId}/${sha256('<?php eval($_POST["x"]);')}/shell.php`].sort(),
    );
    // One execution only: the repeat did not start another playbook; the team sees what happened.
    const prefix = executionNameFor(triageOf(event).dedupeKey, new Date(0)).replace(/-0$/, '');
    expect((await h.executions()).filter((e) => e.name?.startsWith(prefix))).toHaveLength(1);
    const shown = await waitFor(async () => h.discord.messages().find((m) => (m.embeds[0]?.title ?? '').includes(`Repeat of ${run.incidentId}`)), { timeoutMs: 30_000, what: 'the repeat message' });
    expect(JSON.stringify(shown.embeds)).toContain(sha256('<?php eval($_POST["x"]);').slice(0, 12));
    expect(shown.channel_id).not.toBe(h.channelId); // in the incident's thread
    const incident = await h.bot.context.incidents.get(run.incidentId);
    expect(incident?.count).toBe(2);
  });

  it('a storm of repeats does not flood: runs are folded, at most one under way, and the file still ends quarantined', { timeout: TIMEOUT_MS }, async () => {
    const path = '/srv/app/drop.php';
    const pod = newPod({ [path]: 'first' });
    const event = artifactWrite(pod, path);
    await h.send(event);
    const run = await finishedRun(triageOf(event));
    await incidentDone(run.incidentId);

    pod.writeFile(path, 'second');
    await h.sendMany(Array.from({ length: 20 }, () => event));
    await waitFor(async () => ((await h.bot.context.incidents.get(run.incidentId))?.count === 21 ? true : undefined), { timeoutMs: 60_000, what: 'all repeats counted' });
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'the intake queue drained' });

    const runs = await recontained(run.incidentId);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.length).toBeLessThan(20);
    expect(runs.filter((r) => r.outcome === 'succeeded')).toHaveLength(1);
    const dir = h.config.pipeline.quarantineDir;
    expect(pod.exists(path)).toBe(false);
    expect(pod.list(dir)).toEqual([`${dir}/quarantine_${sha256('first').slice(0, 12)}_drop.php`, `${dir}/quarantine_${sha256('second').slice(0, 12)}_drop.php`].sort());
    // Never two runs at once: each run's quarantine exec sequence is whole (mv is followed by its own chmod).
    const mvs = h.kube.execs.filter((e) => e.pod === pod.name && e.argv[0] === 'mv');
    expect(mvs).toHaveLength(2);
  });

  it('another upload moved to the same path (another source) is a new incident with its own playbook', { timeout: TIMEOUT_MS }, async () => {
    const path = '/var/www/html/uploads/x.php';
    const pod = newPod({ [path]: 'one' });
    const first = uploadMove(pod, path, '/tmp/phpAAAA');
    await h.send(first);
    const a = await finishedRun(triageOf(first));
    pod.writeFile(path, 'two');
    const second = uploadMove(pod, path, '/tmp/phpBBBB');
    await h.send(second);
    const b = await finishedRun(triageOf(second));
    expect(b.incidentId).not.toBe(a.incidentId);
    expect(b.output.results.quarantineFile?.status).toBe('succeeded');
    expect(b.output.results.quarantineFile?.details.sha256).toBe(sha256('two'));
  });
});

describe('in observe mode (SENTINEL_MODE=observe)', () => {
  let observe: BotHarness;

  beforeAll(async () => {
    observe = await createBotHarness({ env: { SENTINEL_MODE: 'observe' } });
    await observe.start();
  }, 120_000);

  afterAll(async () => {
    await observe?.close();
  });

  it('a file repeat plans the containment, shows the plan, and changes nothing in the pod or S3', { timeout: TIMEOUT_MS }, async () => {
    const path = '/var/www/html/uploads/observed.php';
    const pod = observe.kube.addPod({ namespace: POD_NAMESPACE, name: `observed-${Date.now().toString(36)}`, containers: [POD_CONTAINER], nodeName: observe.node.name, files: { [path]: 'first' } });
    const event = fluentBitLine(
      `ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: path, proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: POD_CONTAINER, container_id: '3f2a9c1b7d4e', pod: pod.name, ns: POD_NAMESPACE, node: observe.node.name })}`,
      { host: observe.node.name, priority: 'Warning' },
    );
    const triage = triageOf(event);
    await observe.send(event);
    const prefix = executionNameFor(triage.dedupeKey, new Date(0)).replace(/-0$/, '');
    const execution = await waitFor(async () => (await observe.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 90_000, what: 'the execution' });
    const done = await observe.finished(execution.executionArn!, 120_000);
    const incidentId = (JSON.parse(done.input!) as { incidentId: string }).incidentId;
    expect(pod.readText(path)).toBe('first');

    pod.writeFile(path, 'second');
    await observe.send(event);

    const [entry] = await waitFor(async () => {
      const entries = await observe.bot.context.audit.readAudit({ incidentId, what: 'file-recontained' });
      return entries.length ? entries : undefined;
    }, { timeoutMs: 60_000, what: 'the repeat run' });
    expect(entry).toMatchObject({ outcome: 'skipped', detail: { dryRun: true } });
    const shown = await waitFor(async () => observe.discord.messages().find((m) => (m.embeds[0]?.title ?? '').includes(`Repeat of ${incidentId}`)), { timeoutMs: 30_000, what: 'the plan' });
    expect(shown.embeds[0]?.title).toMatch(/^Observe mode, dry run: Repeat of .*: the file would be contained again$/);
    expect(JSON.stringify(shown.embeds)).toContain('would move');
    expect(pod.readText(path)).toBe('second');
    expect(pod.exists(observe.config.pipeline.quarantineDir)).toBe(false);
    const out = await observe.aws.s3.send(new ListObjectsV2Command({ Bucket: observe.bucket, Prefix: `evidence/${incidentId}/` }));
    expect(out.Contents ?? []).toEqual([]);
  });
});
