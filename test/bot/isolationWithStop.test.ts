/**
 * With SENTINEL_ISOLATE_STOP_INSTANCE=true the Falco playbook never skips isolation: the bot
 * refuses to stop an instance whose memory is neither captured nor waived, the playbook then
 * captures the node's memory or, when it cannot (no LiME bucket here), asks a person to waive it.
 * Allow: isolated and stopped. Block: the network is isolated and the instance keeps running.
 * End to end: the real bot, moto (Step Functions, EC2) and the fake Discord.
 */
import { randomBytes } from 'node:crypto';
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import type { APIMessage } from '../support/fakeDiscord/types.js';
import { createBotHarness, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, kv } from '../helpers/events.js';

function webshell(node: string, tag: string) {
  return fluentBitLine(
    `ARTIFACT_WEBSHELL ${kv({ reason: 'webserver_spawns_shell', parent: 'apache2', proc: 'sh', cmdline: `sh -c id # ${tag}`, container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: POD_NAME, ns: POD_NAMESPACE, node, user: 'www-data' })}`,
    { host: node, priority: 'Critical' },
  );
}

/** Each scenario gets its own harness: the instance is isolated (and maybe stopped) by it. */
async function scenario(decision: 'allow' | 'block') {
  const h = await createBotHarness({ env: { SENTINEL_ISOLATE_STOP_INSTANCE: 'true' } });
  await h.start();
  const groupsOf = async () => {
    const enis = await h.aws.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: h.node.networkInterfaceIds }));
    return (enis.NetworkInterfaces ?? []).flatMap((n) => (n.Groups ?? []).map((g) => g.GroupId!)).sort();
  };
  const before = await groupsOf();
  const event = webshell(h.node.name, randomBytes(3).toString('hex'));
  const triaged = triageEvent(event, loadPlaybookConfig(undefined));
  if (!triaged.ok) throw new Error(triaged.error);
  expect(triaged.result.route).toBe('isolate-node');
  await h.send(event);
  const prefix = executionNameFor(triaged.result.dedupeKey, new Date(0)).replace(/-0$/, '');
  const execution = await waitFor(async () => (await h.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 90_000, what: 'the execution' });
  const incidentId = (JSON.parse((await h.describeExecution(execution.executionArn!)).input!) as { incidentId: string }).incidentId;

  const waiver = await h.waitForChannelMessage(
    (m: APIMessage) => (m.components?.length ?? 0) > 0 && (m.embeds[0]?.footer?.text ?? '').includes(incidentId) && JSON.stringify(m.embeds).includes('waive-memory-capture'),
    120_000,
  );
  expect(JSON.stringify(waiver.embeds)).toContain('memory is lost');
  const customId = (waiver.components![0] as { components: { custom_id: string }[] }).components[0]!.custom_id;
  const approvalId = /^apv:([A-Za-z0-9_-]+):/.exec(customId)![1]!;
  const click = h.discord.clickButton({ userId: h.users.alice, messageId: waiver.id, customId: `apv:${approvalId}:${decision}` });
  expect((await click.waitForResponse()).type).toBe(6);

  const done = await h.finished(execution.executionArn!, 180_000);
  const output = JSON.parse(done.output!) as { results: Record<string, { status: string; details?: Record<string, unknown> }>; waiver?: { action: string } };
  const instance = (await h.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [h.node.instanceId] }))).Reservations![0]!.Instances![0]!;
  return { h, done, output, instance, before, after: await groupsOf() };
}

describe('isolation with SENTINEL_ISOLATE_STOP_INSTANCE=true', () => {
  const harnesses: BotHarness[] = [];
  afterAll(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
  });

  it('asks for a waiver when the memory cannot be captured; Allow isolates and stops the instance', async () => {
    const { h, done, output, instance, before, after } = await scenario('allow');
    harnesses.push(h);
    expect(done.status).toBe('SUCCEEDED');
    expect(output.results.captureMemory?.status).toBe('failed');
    expect(output.waiver?.action).toBe('allow');
    expect(output.results.isolateNode).toMatchObject({ status: 'succeeded' });
    expect(['stopping', 'stopped']).toContain(instance.State?.Name);
    expect((instance.Tags ?? []).map((t) => t.Key)).toContain('sentinel:isolated');
    expect(after).not.toEqual(before);
  });

  it('Block keeps the memory: the network is isolated and the instance keeps running; nothing is skipped', async () => {
    const { h, done, output, instance, before, after } = await scenario('block');
    harnesses.push(h);
    expect(done.status).toBe('SUCCEEDED');
    expect(output.waiver?.action).toBe('block');
    expect(output.results.isolateNode).toMatchObject({ status: 'succeeded' });
    expect(instance.State?.Name).toBe('running');
    expect(after).not.toEqual(before);
    expect((instance.Tags ?? []).map((t) => t.Key)).toContain('sentinel:isolated');
  });
});
