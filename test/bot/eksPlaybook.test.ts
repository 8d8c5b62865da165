/**
 * A GuardDuty EKS Runtime Monitoring finding end to end: EventBridge (the product's rule, numeric
 * severity) into the intake queue, the real bot (startBot) triages it to contain-pod and starts the
 * pod containment state machine, which moto's Step Functions runs; each step is the bot's pipeline
 * action against the fake Kubernetes API (isolate-pod, extract-file, quarantine-file), moto
 * (deny-egress in the node subnet's network ACL, isolate-node) and the fake Discord (the node
 * question, Block clicked by a responder, the report).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DescribeNetworkAclsCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { createBotHarness, parseLogs, POD_CONTAINER, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { waitFor } from '../support/aws.js';

const EXE = '/tmp/.font-unix/kthreadd';
const EXE_CONTENT = Buffer.from('\x7fELF\x02\x01\x01 not really a reverse shell, a test payload\n');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let h: BotHarness;
beforeAll(async () => {
  h = await createBotHarness({ allStateMachines: true, eventBus: true });
  await h.start();
}, 180_000);
afterAll(async () => {
  await h?.close();
});

/** The sample finding, about the harness's pod, node and instance. */
function finding(remoteIp: string) {
  const event = JSON.parse(readFileSync(new URL('../fixtures/guardduty-eks/runtime-reverse-shell.json', import.meta.url), 'utf8')) as { detail: Record<string, any> };
  const d = event.detail;
  d.id = `gd${randomBytes(8).toString('hex')}`;
  Object.assign(d.resource.kubernetesDetails.kubernetesWorkloadDetails, { name: POD_NAME, namespace: POD_NAMESPACE });
  d.resource.kubernetesDetails.kubernetesWorkloadDetails.containers[0].name = POD_CONTAINER;
  d.resource.instanceDetails.instanceId = h.node.instanceId;
  Object.assign(d.resource.instanceDetails.networkInterfaces[0], { privateDnsName: h.node.name, privateIpAddress: h.node.privateIp, subnetId: h.node.subnetId, vpcId: h.node.vpcId });
  d.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4 = remoteIp;
  d.service.runtimeDetails.process.executablePath = EXE;
  return event;
}

const isApproval = (m: APIMessage) => (m.components?.length ?? 0) > 0;
function approvalIdOf(message: APIMessage): string {
  const rows = (message.components ?? []) as unknown as { components?: { custom_id?: string }[] }[];
  const m = /^apv:([A-Za-z0-9_-]+):/.exec(rows.flatMap((r) => r.components ?? [])[0]?.custom_id ?? '');
  if (!m) throw new Error('not an approval message');
  return m[1]!;
}

describe('a GuardDuty EKS finding through EventBridge', () => {
  it('runs the pod containment playbook through the bot: pod isolated, executable to evidence and quarantine, remote IP blocked, node isolated on Block', { timeout: 300_000 }, async () => {
    const pod = h.kube.pod(POD_NAMESPACE, POD_NAME);
    pod.writeFile(EXE, EXE_CONTENT, { mode: 0o755 });
    const remoteIp = `198.51.100.${(randomBytes(1)[0]! % 200) + 20}`;
    const event = finding(remoteIp);
    const triage = triageEvent(event, loadPlaybookConfig());
    if (!triage.ok) throw new Error(triage.error);
    expect(triage.result.route).toBe('contain-pod');

    await h.putEvents([{ source: 'aws.guardduty', detailType: 'GuardDuty Finding', detail: event.detail }]);

    // One execution of the pod containment state machine, named from the finding; none of the others.
    const prefix = executionNameFor(triage.result.dedupeKey, new Date(0)).replace(/-0$/, '');
    const [execution] = await waitFor(
      async () => {
        const found = (await h.executions(h.stateMachines.pod!)).filter((e) => e.name?.startsWith(prefix));
        return found.length ? found : undefined;
      },
      { timeoutMs: 90_000, what: 'the pod containment execution' },
    );
    expect(await h.executions(h.stateMachines.falco)).toEqual([]);
    const input = JSON.parse((await h.describeExecution(execution!.executionArn!)).input!) as { incidentId: string };

    // The node question: a responder decides Block.
    const ask = await h.waitForChannelMessage((m) => isApproval(m) && (m.embeds[0]?.footer?.text ?? '').includes(input.incidentId) && JSON.stringify(m.embeds).includes('isolate-node'), 120_000);
    expect(JSON.stringify(ask.embeds)).toContain(h.node.name);
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: ask.id, customId: `apv:${approvalIdOf(ask)}:block` });
    expect((await click.waitForResponse()).type).toBe(6);

    const done = await h.finished(execution!.executionArn!, 180_000);
    expect(done.status, `${done.error ?? ''} ${done.cause ?? ''}`).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { results: Record<string, { status: string; summary: string; details: Record<string, any> }>; decision?: { action: string } };
    const statuses = Object.fromEntries(Object.entries(output.results).map(([k, v]) => [k, v.status]));
    expect(statuses).toEqual({ isolatePod: 'succeeded', extractFile: 'succeeded', quarantineFile: 'succeeded', denyEgress: 'succeeded', isolateNode: 'succeeded', recordIncident: 'succeeded' });
    expect(output.decision).toMatchObject({ action: 'block' });

    // The pod: isolated by a NetworkPolicy selecting it; its executable extracted (same bytes) and moved to quarantine.
    const policy = h.kube.networkPolicy(POD_NAMESPACE, output.results.isolatePod!.details.policyName);
    expect(policy?.metadata.labels).toMatchObject({ 'sentinel.io/created-by': 'sentinel' });
    expect(output.results.extractFile!.details.sha256).toBe(sha256(EXE_CONTENT));
    const stored = await h.aws.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: output.results.extractFile!.details.key }));
    expect(sha256(Buffer.from(await stored.Body!.transformToByteArray()))).toBe(sha256(EXE_CONTENT));
    expect(pod.exists(EXE)).toBe(false);

    // The remote IP: denied in the node subnet's network ACL (the default backend), and the node isolated.
    const acls = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
    expect(acls.NetworkAcls![0]!.Entries!.some((e) => e.Egress && e.RuleAction === 'deny' && e.CidrBlock === `${remoteIp}/32`)).toBe(true);
    expect(output.results.isolateNode!.details).toMatchObject({ instanceId: h.node.instanceId });

    // The report replaced the incident message; the playbook started from the finding, nothing refused.
    const incident = await waitFor(async () => {
      const s = await h.bot.context.incidents.get(input.incidentId);
      return s?.status === 'done' && s.messageId && h.discord.message(s.messageId)?.embeds[0]?.title?.startsWith('Report: ') ? s : undefined;
    }, { timeoutMs: 60_000, what: 'the report' });
    // The incident message showed the EKS cluster first among the target fields, before the report replaced it.
    const posted = h.discord.calls((c) => c.method === 'POST' && c.path === `/channels/${h.channelId}/messages` && (c.response as { id?: string } | undefined)?.id === incident.messageId);
    const fields = (posted[0]!.body as { embeds: { fields?: { name: string; value: string }[] }[] }).embeds[0]!.fields ?? [];
    expect(fields.find((f) => f.name === 'Cluster')?.value).toBe('`prod-eks`');
    expect(fields.findIndex((f) => f.name === 'Cluster')).toBeLessThan(fields.findIndex((f) => f.name === 'Pod'));
    const logs = parseLogs(h.logs);
    expect(logs.filter((l) => l.message === 'playbook started').map((l) => l.route)).toEqual(['contain-pod']);
    expect(logs.filter((l) => l.message === 'event refused')).toEqual([]);
  });
});
