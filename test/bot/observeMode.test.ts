/**
 * Observe mode, the first step of a roll-out: with SENTINEL_MODE=observe every playbook step runs
 * as a dry run, so nothing changes in AWS (moto) or the cluster (the fake Kubernetes API), and the
 * report shows each action's plan. A single playbook rule can be observe-only too, while the rest
 * acts. End to end through the real bot, Step Functions (moto) and the fake Discord.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeNetworkAclsCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import { waitFor } from '../support/aws.js';
import { createBotHarness, POD_FILE, POD_FILE_CONTENT, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, kv, reverseShellLine } from '../helpers/events.js';
import defaults from '../../config/playbooks.json' with { type: 'json' };

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, loadPlaybookConfig(undefined));
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

const attackerIp = () => `198.51.100.${10 + (randomBytes(1)[0]! % 200)}`;

function reverseShell(ip: string) {
  return fluentBitLine(reverseShellLine({ ip, port: 4444, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' });
}

function uploadMove(tag: string) {
  return fluentBitLine(`DVWA_UPLOAD_MOVE ${kv({ src: `/tmp/php${tag}`, dst: POD_FILE, proc: 'apache2', cmdline: `apache2 -DFOREGROUND ${tag}`, user: 'www-data', container: 'dvwa', pod: POD_NAME, ns: POD_NAMESPACE })}`, {
    host: h.node.name,
    priority: 'Notice',
  });
}

function webshell(tag: string) {
  return fluentBitLine(
    `ARTIFACT_WEBSHELL ${kv({ reason: 'webserver_spawns_shell', parent: 'apache2', proc: 'sh', cmdline: `sh -c id # ${tag}`, container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: POD_NAME, ns: POD_NAMESPACE, node: h.node.name, user: 'www-data' })}`,
    { host: h.node.name, priority: 'Critical' },
  );
}

/** The execution an event started, once it has finished, with its output. */
async function finishedRun(event: unknown): Promise<{ incidentId: string; output: { results: Record<string, { status: string; details: Record<string, unknown> }> } }> {
  const triage = triageOf(event);
  const prefix = executionNameFor(triage.dedupeKey, new Date(0)).replace(/-0$/, '');
  const execution = await waitFor(async () => (await h.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 90_000, what: `the execution for ${triage.rule}` });
  const done = await h.finished(execution.executionArn!, 120_000);
  expect(done.status).toBe('SUCCEEDED');
  const input = JSON.parse(done.input!) as { incidentId: string };
  return { incidentId: input.incidentId, output: JSON.parse(done.output!) };
}

async function denyRulesFor(ip: string): Promise<unknown[]> {
  const acls = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [h.node.vpcId] }] }));
  return acls.NetworkAcls!.flatMap((a) => a.Entries ?? []).filter((e) => e.CidrBlock === `${ip}/32`);
}

async function groupsOfEnis(): Promise<string[][]> {
  const out = await h.aws.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: h.node.networkInterfaceIds }));
  return (out.NetworkInterfaces ?? []).map((n) => (n.Groups ?? []).map((g) => g.GroupId!).sort());
}

async function objectsUnder(prefix: string): Promise<string[]> {
  const out = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** The report: the incident message, edited at the end of the playbook. */
async function reportText(incidentId: string): Promise<string> {
  // The status is final once the report is recorded; the outbox shows the report on the message right after.
  const state = await waitFor(async () => {
    const s = await h.bot.context.incidents.get(incidentId);
    if (s?.status !== 'done' && s?.status !== 'failed') return undefined;
    return s.messageId && h.discord.message(s.messageId)?.embeds[0]?.title?.startsWith('Report: ') ? s : undefined;
  }, { timeoutMs: 60_000, what: 'the report' });
  return JSON.stringify(h.discord.message(state.messageId!)?.embeds ?? []);
}

describe('SENTINEL_MODE=observe', () => {
  beforeAll(async () => {
    await h.start({ SENTINEL_MODE: 'observe' });
  }, 60_000);
  afterAll(async () => {
    await h.stop();
  });

  it('a reverse shell: the egress deny is planned, not made; the report shows the plan', async () => {
    const ip = attackerIp();
    const event = reverseShell(ip);
    await h.send(event);
    const run = await finishedRun(event);
    expect(run.output.results.denyEgress).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    expect(await denyRulesFor(ip)).toEqual([]);
    const report = await reportText(run.incidentId);
    expect(report).toContain('planned (dry run)');
    expect(report).toContain('deny-egress');
  });

  it('an uploaded web shell: nothing is extracted or moved; the file stays where it is', async () => {
    const event = uploadMove(randomBytes(3).toString('hex'));
    await h.send(event);
    const run = await finishedRun(event);
    expect(run.output.results.extractFile).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    expect(run.output.results.quarantineFile).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    expect(h.kube.pod(POD_NAMESPACE, POD_NAME).readFile(POD_FILE).toString()).toBe(POD_FILE_CONTENT);
    expect(await objectsUnder(`evidence/${run.incidentId}`)).toEqual([]);
  });

  it('a web shell that would isolate the node: the network interfaces keep their groups', async () => {
    const before = await groupsOfEnis();
    const event = webshell(randomBytes(3).toString('hex'));
    await h.send(event);
    const run = await finishedRun(event);
    expect(run.output.results.isolateNode).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    expect(await groupsOfEnis()).toEqual(before);
    const incident = await h.bot.context.incidents.get(run.incidentId);
    const first = h.posted().find((c) => (c.response as { id?: string }).id === incident?.messageId);
    expect(JSON.stringify(first?.body)).toContain('Observe mode');
  });
});

describe('an observe-only rule in enforce mode', () => {
  beforeAll(async () => {
    // The default config, with the reverse-shell rule marked observe-only.
    const config = structuredClone(defaults) as { falco: { rules: { route: string; observe?: boolean }[] } };
    for (const rule of config.falco.rules) if (rule.route === 'block-egress') rule.observe = true;
    const path = join(h.dataDir, 'playbooks-observe.json');
    await writeFile(path, JSON.stringify(config));
    await h.start({ SENTINEL_PLAYBOOKS: path });
  }, 60_000);
  afterAll(async () => {
    await h.stop();
  });

  it('plans that rule\'s actions and carries out the others', async () => {
    const ip = attackerIp();
    const shell = reverseShell(ip);
    expect(triageEvent(shell, loadPlaybookConfig(join(h.dataDir, 'playbooks-observe.json')))).toMatchObject({ ok: true, result: { observe: true } });
    await h.send(shell);
    const planned = await finishedRun(shell);
    expect(planned.output.results.denyEgress).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    expect(await denyRulesFor(ip)).toEqual([]);

    const upload = uploadMove(randomBytes(3).toString('hex'));
    await h.send(upload);
    const enforced = await finishedRun(upload);
    expect(enforced.output.results.quarantineFile).toMatchObject({ status: 'succeeded' });
    expect(() => h.kube.pod(POD_NAMESPACE, POD_NAME).readFile(POD_FILE)).toThrow(/ENOENT/);
  });
});
