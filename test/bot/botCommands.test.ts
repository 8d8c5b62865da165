/**
 * Slash commands end to end: registered with the product's register-commands, run through the
 * fake Discord into the real discord.js Client of a running bot, acting on the fake Kubernetes
 * API (pods, NetworkPolicies, exec) and on moto (EC2 network ACLs, S3 evidence).
 */
import { createHash } from 'node:crypto';
import { DescribeNetworkAclsCommand, type NetworkAclEntry } from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalIdFor } from '../../src/handlers/approvalIdFor.js';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import type { InteractionCallbackRecord, InteractionHandle, SlashOptionValue } from '../support/fakeDiscord/types.js';
import { artifactExecEvent, createBotHarness, POD_CONTAINER, POD_FILE, POD_FILE_CONTENT, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness({ registerCommands: true });
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

const EPHEMERAL = 64;

function run(userId: string, name: string, options: Record<string, SlashOptionValue>, subcommand?: string): InteractionHandle {
  return h.discord.runSlashCommand({ userId, name, options, ...(subcommand ? { subcommand } : {}), channelId: h.channelId });
}

/** The ephemeral message the command ended up showing (after a deferred reply and its edit). */
async function shown(handle: InteractionHandle): Promise<APIMessage> {
  const response = await handle.waitForResponse();
  expect(response.ephemeral).toBe(true);
  if (response.type === 5) await handle.waitForEdit(undefined, 15_000);
  const original = handle.original();
  if (!original) throw new Error('no original message');
  expect((original.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  return original;
}

/** An immediate ephemeral text reply (refusals and option errors). */
async function ephemeralText(handle: InteractionHandle): Promise<string> {
  const response: InteractionCallbackRecord = await handle.waitForResponse();
  expect(response.type).toBe(4);
  expect(response.ephemeral).toBe(true);
  expect(response.data?.allowed_mentions).toEqual({ parse: [] });
  return String(response.data?.content ?? '');
}

const embedOf = (m: APIMessage): APIEmbed => m.embeds[0]!;
const buttonsOf = (m: APIMessage) =>
  ((m.components ?? []) as unknown as { components?: { custom_id: string; label: string; disabled?: boolean }[] }[]).flatMap((row) => row.components ?? []);
const confirmIdOf = (m: APIMessage) => /^cfm:([^:]+):yes$/.exec(buttonsOf(m)[0]?.custom_id ?? '')?.[1];

describe('the commands are registered', () => {
  it('in the guild, by the product', () => {
    expect(h.discord.commands('guild').map((c) => c.name).sort()).toEqual(['evidence', 'isolate', 'unblock']);
  });
});

describe('/isolate', () => {
  const pod = `${POD_NAMESPACE}/${POD_NAME}`;

  it('pod: shows the preflight ephemerally; Cancel changes nothing', async () => {
    const message = await shown(run(h.users.alice, 'isolate', { pod, reason: 'web shell found' }));
    expect(embedOf(message).title).toBe('Confirm this action?');
    expect(embedOf(message).description).toContain(`isolate pod ${pod}`);
    expect(embedOf(message).fields?.[0]).toMatchObject({ name: 'Preflight' });
    expect(embedOf(message).fields?.[0]?.value).toContain(`would isolate pod ${pod}`);
    expect(buttonsOf(message).map((b) => b.label)).toEqual(['Confirm', 'Cancel']);
    const confirmId = confirmIdOf(message)!;
    expect(confirmId).toBeDefined();

    const cancel = h.discord.clickButton({ userId: h.users.alice, messageId: message.id, customId: `cfm:${confirmId}:no` });
    const response = await cancel.waitForResponse();
    expect(response.type).toBe(7);
    expect(response.data?.content).toBe(`Cancelled: isolate pod ${pod}. Nothing was changed.`);
    expect(response.data?.components).toEqual([]);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);
    expect(h.kube.pod(POD_NAMESPACE, POD_NAME).object().metadata.labels).toEqual({ app: 'dvwa' });
    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/isolate', outcome: 'cancelled' });
      return entries.length ? entries : undefined;
    });
    expect(audit).toEqual([expect.objectContaining({ who: `discord:${h.users.alice}`, detail: expect.objectContaining({ actionId: 'isolate-pod' }) })]);
  });

  it('pod: nobody but the issuer can confirm; the issuer’s Confirm isolates the pod (NetworkPolicy created)', async () => {
    const message = await shown(run(h.users.alice, 'isolate', { pod, reason: 'web shell found' }));
    const confirmId = confirmIdOf(message)!;

    const byCarol = h.discord.clickButton({ userId: h.users.carol, messageId: message.id, customId: `cfm:${confirmId}:yes` });
    expect(await ephemeralText(byCarol)).toBe('Only the responder who ran the command can confirm it.');
    const byBob = h.discord.clickButton({ userId: h.users.bob, messageId: message.id, customId: `cfm:${confirmId}:yes` });
    expect(await ephemeralText(byBob)).toBe('You are not allowed to confirm /isolate: it needs a responder role.');
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);

    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: message.id, customId: `cfm:${confirmId}:yes` });
    expect((await confirm.waitForResponse()).type).toBe(6);
    const edit = await confirm.waitForEdit(undefined, 15_000);
    const result = (edit.body as { embeds: APIEmbed[]; components: unknown[] });
    expect(result.embeds[0]?.title).toBe(`isolate pod ${POD_NAMESPACE}/${POD_NAME}`);
    expect(result.embeds[0]?.description).toMatch(/isolated pod/);
    expect(result.components).toEqual([]);

    const policies = h.kube.networkPolicies(POD_NAMESPACE);
    expect(policies).toHaveLength(1);
    expect(policies[0]!.spec).toMatchObject({ policyTypes: expect.arrayContaining(['Ingress', 'Egress']) });
    const labels = h.kube.pod(POD_NAMESPACE, POD_NAME).object().metadata.labels as Record<string, string>;
    const selector = (policies[0]!.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels;
    for (const [k, v] of Object.entries(selector)) expect(labels[k]).toBe(v);
    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/isolate', outcome: 'succeeded' });
      return entries.length ? entries : undefined;
    });
    expect(audit).toEqual([
      expect.objectContaining({ who: `discord:${h.users.alice}`, detail: expect.objectContaining({ actionId: 'isolate-pod', reason: 'web shell found', confirmedBy: [`discord:${h.users.alice}`] }) }),
    ]);
    // Carol's attempt to confirm someone else's plan is audited as refused.
    const refused = await h.bot.context.audit.readAudit({ who: `discord:${h.users.carol}`, what: '/isolate', outcome: 'refused-not-initiator' });
    expect(refused).toHaveLength(1);

    // Used once: the confirmation's buttons are gone.
    expect(h.discord.message(message.id)?.components).toEqual([]);
  });

  it('node: shows the preflight of isolating the instance behind the node', async () => {
    const message = await shown(run(h.users.alice, 'isolate', { node: h.node.name, reason: 'crypto miner on the node' }));
    expect(embedOf(message).description).toContain(`isolate node ${h.node.name}`);
    expect(embedOf(message).fields?.[0]?.value).toContain(`would isolate instance ${h.node.instanceId}`);
    expect(buttonsOf(message).every((b) => !b.disabled)).toBe(true);
  });

  it('refuses invalid options with a readable ephemeral reply', async () => {
    expect(await ephemeralText(run(h.users.alice, 'isolate', { pod: 'no-namespace', reason: 'because' }))).toBe(
      'Cannot run /isolate: pod: pod must be namespace/pod, e.g. shop/api-5f7d9c8b7-qq2lm',
    );
    expect(await ephemeralText(run(h.users.alice, 'isolate', { pod, node: h.node.name, reason: 'because' }))).toBe(
      'Cannot run /isolate: give exactly one of node or pod',
    );
    expect(await ephemeralText(run(h.users.alice, 'isolate', { pod, reason: 'no' }))).toBe(
      'Cannot run /isolate: reason: give a reason (3 characters or more)',
    );
  });
});

describe('/isolate terminate', () => {
  /** A pod its ReplicaSet would replace, on the harness's node. */
  function replicaPod(name: string) {
    h.kube.addPod({
      namespace: POD_NAMESPACE,
      name,
      containers: [POD_CONTAINER],
      nodeName: h.node.name,
      labels: { app: 'web' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8c7b6f4', uid: '0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b', controller: true, blockOwnerDeletion: true }],
    });
    return `${POD_NAMESPACE}/${name}`;
  }

  it('shows terminate-pod\'s plan, and on the issuer\'s Confirm deletes the pod with the grace period asked', async () => {
    const pod = replicaPod('web-5d8c7b6f4-t3rm1');
    const plan = await shown(run(h.users.alice, 'isolate', { pod, terminate: true, grace: 5, reason: 'reverse shell in the pod' }));
    expect(embedOf(plan).description).toContain(`terminate pod ${pod}`);
    expect(embedOf(plan).fields?.[0]?.value).toContain(`would terminate pod ${pod} (grace period 5 s): its ReplicaSet web-5d8c7b6f4 will replace it`);
    expect(h.kube.hasPod(POD_NAMESPACE, 'web-5d8c7b6f4-t3rm1')).toBe(true);
    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
    expect((await confirm.waitForResponse()).type).toBe(6);
    const edit = await confirm.waitForEdit(undefined, 15_000);
    expect((edit.body as { embeds: APIEmbed[] }).embeds[0]?.description).toMatch(/terminated pod .* \(grace period 5 s\)/);
    expect(h.kube.pod(POD_NAMESPACE, 'web-5d8c7b6f4-t3rm1').object().metadata.deletionGracePeriodSeconds).toBe(5);
    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/isolate', outcome: 'succeeded' });
      return entries.find((e) => (e.detail as { actionId?: string }).actionId === 'terminate-pod');
    });
    expect(audit.detail).toMatchObject({ actionId: 'terminate-pod', input: { namespace: POD_NAMESPACE, pod: 'web-5d8c7b6f4-t3rm1', gracePeriodSeconds: 5 }, reason: 'reverse shell in the pod' });
  });

  it('a pod without a controller: the plan says why it is refused, with nothing to confirm; force plans its deletion', async () => {
    const pod = `${POD_NAMESPACE}/${POD_NAME}`;
    const refused = await shown(run(h.users.alice, 'isolate', { pod, terminate: true, reason: 'reverse shell in the pod' }));
    expect(JSON.stringify(refused.embeds)).toContain('it has no controller (ownerReferences), so nothing would recreate it; pass force: true');
    expect(buttonsOf(refused)).toEqual([]);
    const forced = await shown(run(h.users.alice, 'isolate', { pod, terminate: true, force: true, reason: 'reverse shell in the pod' }));
    expect(embedOf(forced).fields?.[0]?.value).toContain('it has no controller: nothing will recreate it');
    expect(buttonsOf(forced).map((b) => b.label)).toEqual(['Confirm', 'Cancel']);
    expect(h.kube.hasPod(POD_NAMESPACE, POD_NAME)).toBe(true);
  });

  it('refuses terminate with a node, with release, and force or grace without terminate', async () => {
    const pod = `${POD_NAMESPACE}/${POD_NAME}`;
    expect(await ephemeralText(run(h.users.alice, 'isolate', { node: h.node.name, terminate: true, reason: 'because' }))).toBe(
      'Cannot run /isolate: terminate: terminate goes with pod (a node is isolated or drained, not terminated)',
    );
    expect(await ephemeralText(run(h.users.alice, 'isolate', { pod, terminate: true, release: true, reason: 'because' }))).toBe('Cannot run /isolate: terminate: give terminate or release, not both');
    expect(await ephemeralText(run(h.users.alice, 'isolate', { pod, force: true, reason: 'because' }))).toBe('Cannot run /isolate: terminate: force and grace go with terminate');
  });
});

describe('/unblock', () => {
  const ip = '203.0.113.77';

  async function egressDenies(): Promise<NetworkAclEntry[]> {
    const out = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
    return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress && e.RuleAction === 'deny' && e.CidrBlock === `${ip}/32`);
  }

  it('shows the plan first, and removes the rule sentinel created only on Confirm', async () => {
    const deny = h.bot.context.actions['deny-egress']!;
    const blocked = await invokeAction(deny, { ip, port: 4444, node: h.node.name }, { actor: 'test', incidentId: 'inc-unblock-test' }, h.bot.context.actionDeps);
    expect(blocked.status).toBe('succeeded');
    expect(await egressDenies()).toHaveLength(1);

    const plan = await shown(run(h.users.alice, 'unblock', { ip }));
    expect(embedOf(plan).title).toBe('Confirm this action?');
    expect(embedOf(plan).description).toBe(`unblock ${ip}`);
    expect(embedOf(plan).fields?.[0]?.value).toMatch(/remove rule \d+ of acl-/);
    expect(buttonsOf(plan).map((b) => b.label)).toEqual(['Confirm', 'Cancel']);
    expect(await egressDenies()).toHaveLength(1);

    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
    expect((await confirm.waitForResponse()).type).toBe(6);
    const edit = await confirm.waitForEdit(undefined, 15_000);
    const result = (edit.body as { embeds: APIEmbed[] }).embeds[0]!;
    expect(result.title).toBe(`unblock ${ip}`);
    expect(result.description).toMatch(/unblocked 203\.0\.113\.77: removed rule \d+ of acl-/);
    expect(await egressDenies()).toEqual([]);
    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/unblock', outcome: 'succeeded' });
      return entries.length ? entries : undefined;
    });
    expect(audit).toEqual([expect.objectContaining({ who: `discord:${h.users.alice}`, detail: expect.objectContaining({ actionId: 'unblock-egress', input: { ip } }) })]);
  });

  it('says so when sentinel has no block for the IP, with nothing to confirm', async () => {
    const message = await shown(run(h.users.alice, 'unblock', { ip: '198.51.100.9' }));
    expect(embedOf(message).title).toBe('unblock 198.51.100.9');
    expect(embedOf(message).description).toContain('no block by sentinel for 198.51.100.9');
    expect(buttonsOf(message)).toEqual([]);
  });

  it('refuses an invalid IP', async () => {
    expect(await ephemeralText(run(h.users.alice, 'unblock', { ip: '300.1.2.3' }))).toBe('Cannot run /unblock: ip: an IPv4 or IPv6 address');
  });
});

describe('/evidence', () => {
  it('collect: shows the plan, then on Confirm copies the file out of the pod and answers with its sha256, size and a download link', async () => {
    const plan = await shown(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, path: POD_FILE }, 'collect'));
    expect(embedOf(plan).description).toBe(`evidence ${POD_NAMESPACE}/${POD_NAME}:${POD_FILE}`);
    expect(embedOf(plan).fields?.[0]?.value).toMatch(/would read \d+ bytes of/);
    expect(h.kube.execs.some((e) => e.pod === POD_NAME && e.argv[0] === 'cat')).toBe(false);
    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
    expect((await confirm.waitForResponse()).type).toBe(6);
    await confirm.waitForEdit(undefined, 15_000);
    const message = h.discord.message(plan.id)!;
    const sha256 = createHash('sha256').update(POD_FILE_CONTENT).digest('hex');
    const size = Buffer.byteLength(POD_FILE_CONTENT);
    const content = message.content ?? '';
    expect(content.split('\n')[0]).toBe(`sha256 \`${sha256}\`, ${size} bytes`);
    const link = /^\[Download \(15 min\)\]\((http[^)]+)\)$/.exec(content.split('\n')[1] ?? '')?.[1];
    expect(link).toBeDefined();
    // The link is a working presigned GET of the stored copy.
    const downloaded = await fetch(link!);
    expect(downloaded.status).toBe(200);
    expect(await downloaded.text()).toBe(POD_FILE_CONTENT);
    expect(embedOf(message).title).toBe(`evidence ${POD_NAMESPACE}/${POD_NAME}:${POD_FILE}`);
    expect(h.kube.execs.some((e) => e.pod === POD_NAME && e.container === POD_CONTAINER && e.argv[0] === 'cat')).toBe(true);
  });

  it('logs: shows the plan, then on Confirm stores the container\'s current and previous logs with their sha256', async () => {
    const name = 'logs-7c9d8e6f5-l0g5x';
    const pod = h.kube.addPod({ namespace: POD_NAMESPACE, name, containers: [POD_CONTAINER], nodeName: h.node.name });
    pod.writeLog(POD_CONTAINER, 'before the restart\n');
    pod.restartContainer(POD_CONTAINER, { exitCode: 137, reason: 'OOMKilled' });
    pod.writeLog(POD_CONTAINER, 'GET /uploads/shell.php?c=id 200\n');
    const plan = await shown(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: name, container: POD_CONTAINER, previous: true }, 'logs'));
    expect(embedOf(plan).description).toBe(`logs of ${POD_NAMESPACE}/${name}`);
    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
    expect((await confirm.waitForResponse()).type).toBe(6);
    const edit = await confirm.waitForEdit(undefined, 15_000);
    const text = JSON.stringify((edit.body as { embeds: APIEmbed[] }).embeds);
    expect(text).toContain(`collected 2 logs of pod ${POD_NAMESPACE}/${name} in s3://${h.bucket}/`);
    expect(text).toMatch(/log=current sha256=[0-9a-f]{64}/);
    expect(text).toContain('log=previous');
    const stored = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/evidence logs', outcome: 'succeeded' });
      return entries.length ? entries : undefined;
    });
    expect(stored[0]!.detail).toMatchObject({ actionId: 'collect-pod-logs', input: { namespace: POD_NAMESPACE, pod: name, containers: [POD_CONTAINER], previous: true } });
    // The current log as stored: the kubelet's lines with their timestamps.
    const sha = /log=current sha256=([0-9a-f]{64})/.exec(text)![1]!;
    const listed = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: `evidence/${stored[0]!.incidentId}/${sha}/` }));
    const body = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: listed.Contents![0]!.Key! }));
    const log = await body.Body!.transformToString();
    expect(log).toMatch(/^\S+ GET \/uploads\/shell\.php\?c=id 200\n$/);
    expect(createHash('sha256').update(log).digest('hex')).toBe(sha);
  });

  it('capture: shows the bounded tcpdump it would run, and on Confirm stores the pcap', async () => {
    const pcap = Buffer.concat([Buffer.from('d4c3b2a1020004000000000000000000ffff000071000000', 'hex')]);
    h.kube.onExec((ctx) => (ctx.argv.includes('tcpdump') ? { stdout: pcap, stderr: '0 packets captured\n0 packets received by filter\n0 packets dropped by kernel\n', exitCode: 0 } : undefined));
    try {
      const plan = await shown(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, seconds: 5, packets: 50, host: '203.0.113.9', port: 4444 }, 'capture'));
      expect(embedOf(plan).description).toBe(`network capture of ${POD_NAMESPACE}/${POD_NAME}`);
      expect(embedOf(plan).fields?.[0]?.value).toContain('would capture up to 50 packets or 5 s');
      expect(embedOf(plan).fields?.[0]?.value).toMatch(/filter: .*host 203\.0\.113\.9.*port 4444/);
      const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
      expect((await confirm.waitForResponse()).type).toBe(6);
      const edit = await confirm.waitForEdit(undefined, 60_000);
      expect(JSON.stringify((edit.body as { embeds: APIEmbed[] }).embeds)).toContain(createHash('sha256').update(pcap).digest('hex').slice(0, 12));
      expect(h.kube.execs.some((e) => e.pod === POD_NAME && e.argv.includes('tcpdump'))).toBe(true);
    } finally {
      h.kube.onExec(undefined);
    }
  });

  it('logs and capture refuse invalid options', async () => {
    expect(await ephemeralText(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, container: 'Not_A_Container' }, 'logs'))).toBe('Cannot run /evidence logs: container: a container name');
    expect(await ephemeralText(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, host: 'evil.example' }, 'capture'))).toBe('Cannot run /evidence capture: host: an IPv4 or IPv6 address');
  });

  it('show: the evidence manifest of a recorded incident', async () => {
    const deps = h.bot.context.actionDeps;
    const incidentId = 'inc-evidence-show';
    const extracted = await invokeAction(
      h.bot.context.actions['extract-file']!,
      { namespace: POD_NAMESPACE, pod: POD_NAME, path: POD_FILE },
      { actor: 'test', incidentId },
      deps,
    );
    expect(extracted.status).toBe('succeeded');
    const recorded = await invokeAction(
      h.bot.context.actions['record-incident']!,
      {
        incidentId,
        executionName: 'evidence-show-1',
        startTime: new Date().toISOString(),
        route: 'file-artifact',
        triage: { source: 'falco', rule: 'ARTIFACT_WRITE', severity: 'high', route: 'file-artifact', target: { namespace: POD_NAMESPACE, pod: POD_NAME } },
        actions: [{ action: 'extract-file', ...extracted }],
      },
      { actor: 'test', incidentId },
      deps,
    );
    expect(recorded.status).toBe('succeeded');
    const location = (recorded.details as { location: string }).location;
    const evidence = (extracted.details as { location: string; sha256: string }).location;
    const sha256 = (extracted.details as { sha256: string }).sha256;

    const message = await shown(run(h.users.alice, 'evidence', { incident: incidentId }, 'show'));
    const text = JSON.stringify(message.embeds);
    expect(message.embeds[0]?.title).toBe('Report: [HIGH] ARTIFACT\\_WRITE');
    expect(text).toContain(`sha256:${sha256.slice(0, 12)}`);
    expect(text).toContain(evidence);
    expect(message.embeds[0]?.fields?.find((f) => f.name === 'Record')?.value).toBe(`\`${location}\``);
    const [bucket, ...key] = evidence.replace('s3://', '').split('/');
    const stored = await h.aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key.join('/') }));
    expect(await stored.Body!.transformToString()).toBe(POD_FILE_CONTENT);
    // Read-only, but audited like every command.
    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: '/evidence show', incidentId, outcome: 'shown' });
      return entries.length ? entries : undefined;
    });
    expect(audit).toEqual([expect.objectContaining({ who: `discord:${h.users.alice}` })]);
  });

  it('show: says so for an incident that was never recorded, and refuses a malformed id', async () => {
    const message = await shown(run(h.users.alice, 'evidence', { incident: 'inc-never-recorded' }, 'show'));
    expect(message.content).toBe('No recorded incident inc-never-recorded.');
    expect(await ephemeralText(run(h.users.alice, 'evidence', { incident: 'bad id!' }, 'show'))).toBe(
      'Cannot run /evidence show: incident: an incident id',
    );
  });

  it('collect: refuses a relative path', async () => {
    expect(await ephemeralText(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, path: 'etc/passwd' }, 'collect'))).toBe(
      'Cannot run /evidence collect: path: an absolute path',
    );
  });
});

describe('a member without the responder role', () => {
  it('is refused every command, ephemerally, and each refusal is audited', async () => {
    const attempts: [string, Record<string, SlashOptionValue>, string | undefined, string][] = [
      ['isolate', { pod: `${POD_NAMESPACE}/${POD_NAME}`, reason: 'because' }, undefined, '/isolate'],
      ['unblock', { ip: '203.0.113.77' }, undefined, '/unblock'],
      ['evidence', { namespace: POD_NAMESPACE, pod: POD_NAME, path: POD_FILE }, 'collect', '/evidence collect'],
      ['evidence', { incident: 'inc-evidence-show' }, 'show', '/evidence show'],
    ];
    const before = (await h.bot.context.audit.readAudit({ who: `discord:${h.users.bob}`, outcome: 'refused-unauthorized' })).length;
    const execsBefore = h.kube.execs.length;
    for (const [name, options, sub, what] of attempts) {
      expect(await ephemeralText(run(h.users.bob, name, options, sub))).toBe(`You are not allowed to run ${what}: it needs a responder role.`);
    }
    const refusals = await waitFor(async () => {
      const r = await h.bot.context.audit.readAudit({ who: `discord:${h.users.bob}`, outcome: 'refused-unauthorized' });
      return r.length === before + attempts.length ? r : undefined;
    });
    expect(refusals.slice(before).map((r) => r.what)).toEqual(attempts.map((a) => a[3]));
    expect(h.kube.execs.length).toBe(execsBefore);
  });

  it('is refused every button (Confirm and Cancel of a plan, Allow and Block of an approval), each refusal audited, nothing changed', async () => {
    const bob = `discord:${h.users.bob}`;
    const plan = await shown(run(h.users.alice, 'isolate', { node: h.node.name, reason: 'planned by alice' }));
    const confirmId = confirmIdOf(plan)!;
    const incidentId = h.bot.context.confirmations.peek(confirmId)!.incidentId;
    for (const answer of ['yes', 'no'] as const) {
      const click = h.discord.clickButton({ userId: h.users.bob, messageId: plan.id, customId: `cfm:${confirmId}:${answer}` });
      expect(await ephemeralText(click)).toBe(`You are not allowed to ${answer === 'yes' ? 'confirm' : 'cancel'} /isolate: it needs a responder role.`);
    }
    const planRefusals = await waitFor(async () => {
      const r = await h.bot.context.audit.readAudit({ who: bob, incidentId, outcome: 'refused-unauthorized' });
      return r.length === 2 ? r : undefined;
    });
    expect(planRefusals.map((r) => [r.what, (r.detail as { kind: string }).kind])).toEqual([
      ['/isolate', 'button'],
      ['/isolate', 'button'],
    ]);
    // The plan is still alice's to confirm or cancel.
    expect(h.bot.context.confirmations.peek(confirmId)?.confirmations).toEqual([]);

    // An approval (its task token unknown to Step Functions: only the buttons matter here).
    const taskToken = `policy-${Date.now()}-0000-4000-8000-000000000000`;
    const approvalId = approvalIdFor(taskToken);
    const triage = triageEvent(artifactExecEvent(h.node.name, { tag: 'policy-buttons' }), loadPlaybookConfig(undefined));
    if (!triage.ok) throw new Error(triage.error);
    await h.sendControl({ kind: 'approval-request', taskToken, incident: { incidentId: 'inc-policy-buttons', triage: triage.result }, proposedAction: { action: 'isolate-node', input: { node: h.node.name } } });
    const approval = await h.waitForChannelMessage((m) => buttonsOf(m).some((b) => b.custom_id === `apv:${approvalId}:block`), 60_000);
    for (const choice of ['allow', 'block'] as const) {
      const click = h.discord.clickButton({ userId: h.users.bob, messageId: approval.id, customId: `apv:${approvalId}:${choice}` });
      expect(await ephemeralText(click)).toBe('You are not allowed to decide approvals: it needs a responder role.');
    }
    const approvalRefusals = await waitFor(async () => {
      const r = await h.bot.context.audit.readAudit({ who: bob, approvalId, outcome: 'refused-unauthorized' });
      return r.length === 2 ? r : undefined;
    });
    expect(approvalRefusals.map((r) => r.what)).toEqual(['approval-allow', 'approval-block']);
    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('pending');

    // Alice cancels her plan: nothing was ever isolated.
    const cancel = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmId}:no` });
    expect((await cancel.waitForResponse()).type).toBe(7);
    expect(await h.bot.context.audit.readAudit({ what: '/isolate', incidentId, outcome: 'succeeded' })).toEqual([]);
  });
});
