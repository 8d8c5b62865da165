/**
 * One policy for people, on slash commands, end to end: the real bot, the fake Discord (real
 * discord.js), the fake Kubernetes API and moto.
 *
 * - A two-person action (SENTINEL_TWO_PERSON_ACTIONS) started by a command needs the initiator's
 *   Confirm and then a different responder's: the initiator alone, or twice, runs nothing.
 * - An action not on the list runs on the initiator's Confirm alone.
 * - Observe mode (SENTINEL_MODE=observe) runs confirmed commands as dry runs: nothing changes in
 *   the fake cluster or moto, and the reply shows the plan.
 * - An unknown id in SENTINEL_TWO_PERSON_ACTIONS stops the bot (and `sentinel start`) at start-up.
 */
import { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import { DescribeNetworkAclsCommand, type NetworkAclEntry } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ConfigError } from '../../src/errors.js';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { OBSERVE_RESULT_NOTE } from '../../src/handlers/render/confirmMessage.js';
import { waitFor } from '../support/aws.js';
import type { InteractionCallbackRecord, InteractionHandle, SlashOptionValue } from '../support/fakeDiscord/types.js';
import { createBotHarness, POD_CONTAINER, POD_FILE, POD_FILE_CONTENT, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';

const TWO_PERSON = 'isolate-pod,unblock-egress,terminate-pod';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness({ registerCommands: true, env: { SENTINEL_TWO_PERSON_ACTIONS: TWO_PERSON } });
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const EPHEMERAL = 64;

function run(userId: string, name: string, options: Record<string, SlashOptionValue>, subcommand?: string): InteractionHandle {
  return h.discord.runSlashCommand({ userId, name, options, ...(subcommand ? { subcommand } : {}), channelId: h.channelId });
}

/** The ephemeral message a command ended up showing (after its deferred reply and the edit). */
async function shown(handle: InteractionHandle): Promise<APIMessage> {
  const response = await handle.waitForResponse();
  expect(response.ephemeral).toBe(true);
  if (response.type === 5) await handle.waitForEdit(undefined, 15_000);
  const original = handle.original();
  if (!original) throw new Error('no original message');
  expect((original.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  return original;
}

async function ephemeralText(handle: InteractionHandle): Promise<string> {
  const response: InteractionCallbackRecord = await handle.waitForResponse();
  expect(response.type).toBe(4);
  expect(response.ephemeral).toBe(true);
  expect(response.data?.allowed_mentions).toEqual({ parse: [] });
  return String(response.data?.content ?? '');
}

const embedOf = (m: { embeds: APIEmbed[] }): APIEmbed => m.embeds[0]!;
const fieldOf = (m: { embeds: APIEmbed[] }, name: string) => embedOf(m).fields?.find((f) => f.name === name)?.value;
const buttonsOf = (m: APIMessage) =>
  ((m.components ?? []) as unknown as { components?: { custom_id: string; label: string; disabled?: boolean }[] }[]).flatMap((row) => row.components ?? []);
const confirmIdOf = (m: APIMessage) => /^cfm:([^:]+):yes$/.exec(buttonsOf(m)[0]?.custom_id ?? '')?.[1];

/** Clicks a button that answers with a deferred update, and returns the edit it makes. */
async function clickForEdit(userId: string, message: APIMessage, customId: string): Promise<{ content?: string; embeds: APIEmbed[]; components: unknown[] }> {
  const click = h.discord.clickButton({ userId, messageId: message.id, customId });
  expect((await click.waitForResponse()).type).toBe(6);
  const edit = await click.waitForEdit(undefined, 15_000);
  return edit.body as { content?: string; embeds: APIEmbed[]; components: unknown[] };
}

/** The request for a second responder that the bot posted in the incident channel for this confirmation. */
function secondRequest(confirmId: string): Promise<APIMessage> {
  return h.waitForChannelMessage((m) => buttonsOf(m).some((b) => b.custom_id === `cfm:${confirmId}:yes`), 15_000);
}

async function audited(filter: Parameters<BotHarness['bot']['context']['audit']['readAudit']>[0], count = 1) {
  return waitFor(async () => {
    const entries = await h.bot.context.audit.readAudit(filter);
    return entries.length >= count ? entries : undefined;
  });
}

async function egressDenies(ip: string): Promise<NetworkAclEntry[]> {
  const out = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
  return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress && e.RuleAction === 'deny' && e.CidrBlock === `${ip}/32`);
}

async function blockWithDenyEgress(ip: string): Promise<void> {
  const blocked = await invokeAction(h.bot.context.actions['deny-egress']!, { ip, port: 4444, node: h.node.name }, { actor: 'test', incidentId: `inc-${ip}` }, h.bot.context.actionDeps);
  expect(blocked.status).toBe('succeeded');
  expect(await egressDenies(ip)).toHaveLength(1);
}

describe('a two-person action started by a slash command', () => {
  const pod = `${POD_NAMESPACE}/${POD_NAME}`;

  it('/isolate pod: the initiator alone, or the initiator twice, runs nothing; a second responder runs it', async () => {
    const alice = `discord:${h.users.alice}`;
    const carol = `discord:${h.users.carol}`;
    const plan = await shown(run(h.users.alice, 'isolate', { pod, reason: 'web shell found' }));
    expect(embedOf(plan).title).toBe('Confirm this action?');
    expect(fieldOf(plan, 'Two-person rule')).toMatch(/a different responder must confirm too/);
    const confirmId = confirmIdOf(plan)!;
    const incidentId = h.bot.context.confirmations.peek(confirmId)!.incidentId;

    // The initiator confirms the plan: nothing runs yet; a request for a second responder is posted.
    const first = await clickForEdit(h.users.alice, plan, `cfm:${confirmId}:yes`);
    expect(first.content).toBe(`Confirmed by you: isolate pod ${pod}. A different responder must confirm too; the request is posted in the channel. Nothing changes until then.`);
    expect(first.components).toEqual([]);
    const request = await secondRequest(confirmId);
    expect((request.flags ?? 0) & EPHEMERAL).toBe(0);
    expect(embedOf(request).title).toBe('Second responder needed');
    expect(fieldOf(request, 'Started by')).toBe(`<@${h.users.alice}> with /isolate`);
    expect(fieldOf(request, 'Reason')).toBe('web shell found');
    expect(fieldOf(request, 'Plan')).toContain(`would isolate pod ${pod}`);
    expect(buttonsOf(request).map((b) => b.label)).toEqual(['Confirm as second responder', 'Cancel']);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);

    // The initiator cannot be the second approver: refused, audited, nothing changes.
    const again = h.discord.clickButton({ userId: h.users.alice, messageId: request.id, customId: `cfm:${confirmId}:yes` });
    expect(await ephemeralText(again)).toBe('You started this action, so you cannot also approve it: a different responder must confirm.');
    const refused = await audited({ who: alice, incidentId, outcome: 'refused-initiator' });
    expect(refused).toEqual([expect.objectContaining({ what: '/isolate', detail: expect.objectContaining({ actionId: 'isolate-pod', confirmedBy: [alice] }) })]);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);
    expect(h.kube.pod(POD_NAMESPACE, POD_NAME).object().metadata.labels).toEqual({ app: 'dvwa' });

    // A different responder confirms: the pod is isolated, and the request shows who confirmed.
    const done = await clickForEdit(h.users.carol, request, `cfm:${confirmId}:yes`);
    expect(embedOf(done).title).toBe(`isolate pod ${pod}`);
    expect(embedOf(done).description).toMatch(/isolated pod/);
    expect(fieldOf(done, 'Confirmed by')).toBe(`<@${h.users.alice}>, <@${h.users.carol}>`);
    expect(done.components).toEqual([]);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toHaveLength(1);
    const ran = await audited({ what: '/isolate', incidentId, outcome: 'succeeded' });
    expect(ran).toEqual([expect.objectContaining({ who: carol, detail: expect.objectContaining({ confirmedBy: [alice, carol], reason: 'web shell found' }) })]);
    expect(await h.bot.context.audit.readAudit({ incidentId, outcome: 'confirmed-awaiting-second' })).toEqual([expect.objectContaining({ who: alice })]);
  });

  it('/isolate terminate: terminate-pod on the list needs a second responder too; only then is the pod deleted', async () => {
    const name = 'web-6b7c8d9e0f-2prsn';
    h.kube.addPod({
      namespace: POD_NAMESPACE,
      name,
      containers: [POD_CONTAINER],
      nodeName: h.node.name,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6b7c8d9e0f', uid: '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d', controller: true }],
    });
    const target = `${POD_NAMESPACE}/${name}`;
    const plan = await shown(run(h.users.alice, 'isolate', { pod: target, terminate: true, reason: 'reverse shell' }));
    expect(fieldOf(plan, 'Two-person rule')).toMatch(/a different responder must confirm too/);
    const confirmId = confirmIdOf(plan)!;
    const first = await clickForEdit(h.users.alice, plan, `cfm:${confirmId}:yes`);
    expect(first.content).toBe(`Confirmed by you: terminate pod ${target}. A different responder must confirm too; the request is posted in the channel. Nothing changes until then.`);
    expect(h.kube.pod(POD_NAMESPACE, name).object().metadata.deletionTimestamp).toBeUndefined();
    const request = await secondRequest(confirmId);
    expect(fieldOf(request, 'Plan')).toContain(`would terminate pod ${target}`);
    const done = await clickForEdit(h.users.carol, request, `cfm:${confirmId}:yes`);
    expect(embedOf(done).description).toMatch(/terminated pod/);
    expect(fieldOf(done, 'Confirmed by')).toBe(`<@${h.users.alice}>, <@${h.users.carol}>`);
    expect(h.kube.hasPod(POD_NAMESPACE, name) ? h.kube.pod(POD_NAMESPACE, name).object().metadata.deletionTimestamp : 'gone').toBeDefined();
  });

  it('an action not on the list (release-pod) runs on the initiator’s Confirm alone', async () => {
    const plan = await shown(run(h.users.alice, 'isolate', { pod, reason: 'false positive', release: true }));
    expect(fieldOf(plan, 'Two-person rule')).toBeUndefined();
    const done = await clickForEdit(h.users.alice, plan, `cfm:${confirmIdOf(plan)}:yes`);
    expect(embedOf(done).title).toBe(`release pod ${pod}`);
    expect(embedOf(done).description).toMatch(/released pod|deleted NetworkPolicy/);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);
  });

  it('/unblock asks for confirmation and needs a second responder; the second may also decline', async () => {
    const ip = '203.0.113.91';
    await blockWithDenyEgress(ip);

    // Declined: the initiator confirms, the second responder cancels. The block stays.
    const declined = await shown(run(h.users.carol, 'unblock', { ip }));
    expect(embedOf(declined).title).toBe('Confirm this action?');
    const declinedId = confirmIdOf(declined)!;
    await clickForEdit(h.users.carol, declined, `cfm:${declinedId}:yes`);
    const declinedRequest = await secondRequest(declinedId);
    const cancel = h.discord.clickButton({ userId: h.users.alice, messageId: declinedRequest.id, customId: `cfm:${declinedId}:no` });
    const cancelled = await cancel.waitForResponse();
    expect(cancelled.type).toBe(7);
    expect(cancelled.data?.content).toBe(`Cancelled by <@${h.users.alice}>: unblock ${ip}. Nothing was changed.`);
    expect(await egressDenies(ip)).toHaveLength(1);

    // Confirmed by both: the rule is gone.
    const plan = await shown(run(h.users.carol, 'unblock', { ip }));
    const confirmId = confirmIdOf(plan)!;
    await clickForEdit(h.users.carol, plan, `cfm:${confirmId}:yes`);
    expect(await egressDenies(ip)).toHaveLength(1);
    const request = await secondRequest(confirmId);
    const done = await clickForEdit(h.users.alice, request, `cfm:${confirmId}:yes`);
    expect(embedOf(done).title).toBe(`unblock ${ip}`);
    expect(embedOf(done).description).toMatch(/unblocked 203\.0\.113\.91: removed rule \d+ of acl-/);
    expect(await egressDenies(ip)).toEqual([]);
  });
});

describe('observe mode (SENTINEL_MODE=observe)', () => {
  const OBSERVED_POD = 'web-observe-7c9d8';

  beforeAll(async () => {
    h.kube.addPod({ namespace: POD_NAMESPACE, name: OBSERVED_POD, containers: [POD_CONTAINER], nodeName: h.node.name, labels: { app: 'observed' }, files: { [POD_FILE]: POD_FILE_CONTENT } });
    await h.stop();
    await h.start({ SENTINEL_MODE: 'observe' });
  }, 60_000);

  it('/isolate runs as a dry run after both confirmations: no NetworkPolicy, no label, and the reply shows the plan', async () => {
    const pod = `${POD_NAMESPACE}/${OBSERVED_POD}`;
    const plan = await shown(run(h.users.alice, 'isolate', { pod, reason: 'rehearsal' }));
    expect(fieldOf(plan, 'Observe mode')).toMatch(/confirming runs this as a dry run/);
    const confirmId = confirmIdOf(plan)!;
    const incidentId = h.bot.context.confirmations.peek(confirmId)!.incidentId;
    await clickForEdit(h.users.alice, plan, `cfm:${confirmId}:yes`);
    const request = await secondRequest(confirmId);
    expect(fieldOf(request, 'Observe mode')).toMatch(/dry run/);
    const done = await clickForEdit(h.users.carol, request, `cfm:${confirmId}:yes`);
    expect(embedOf(done).title).toBe(`Observe mode, dry run: isolate pod ${pod}`);
    expect(embedOf(done).description).toMatch(/^📝 planned \(dry run\): would isolate pod/);
    expect(fieldOf(done, 'Observe mode')).toBe(OBSERVE_RESULT_NOTE);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);
    expect(h.kube.pod(POD_NAMESPACE, OBSERVED_POD).object().metadata.labels).toEqual({ app: 'observed' });
    const audit = await audited({ what: '/isolate', incidentId, outcome: 'observed' });
    expect(audit[0]?.detail).toMatchObject({ dryRun: true, status: 'skipped' });
  });

  it('/unblock runs as a dry run: the deny rule stays in the network ACL', async () => {
    const ip = '203.0.113.92';
    await blockWithDenyEgress(ip);
    const plan = await shown(run(h.users.alice, 'unblock', { ip }));
    const confirmId = confirmIdOf(plan)!;
    await clickForEdit(h.users.alice, plan, `cfm:${confirmId}:yes`);
    const done = await clickForEdit(h.users.carol, await secondRequest(confirmId), `cfm:${confirmId}:yes`);
    expect(embedOf(done).title).toBe(`Observe mode, dry run: unblock ${ip}`);
    expect(embedOf(done).description).toMatch(/planned \(dry run\): unblock 203\.0\.113\.92: remove rule \d+/);
    expect(fieldOf(done, 'Observe mode')).toBe(OBSERVE_RESULT_NOTE);
    expect(await egressDenies(ip)).toHaveLength(1);
  });

  it('/evidence collect runs as a dry run: the file is not read, nothing is stored, no link', async () => {
    const before = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: 'evidence/' }));
    const plan = await shown(run(h.users.alice, 'evidence', { namespace: POD_NAMESPACE, pod: OBSERVED_POD, path: POD_FILE }, 'collect'));
    const done = await clickForEdit(h.users.alice, plan, `cfm:${confirmIdOf(plan)}:yes`);
    expect(embedOf(done).title).toBe(`Observe mode, dry run: evidence ${POD_NAMESPACE}/${OBSERVED_POD}:${POD_FILE}`);
    expect(embedOf(done).description).toMatch(/planned \(dry run\): would read \d+ bytes of/);
    expect(fieldOf(done, 'Observe mode')).toBe(OBSERVE_RESULT_NOTE);
    expect(done.content ?? '').toBe('');
    expect(h.kube.execs.some((e) => e.pod === OBSERVED_POD && e.argv[0] === 'cat')).toBe(false);
    const after = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: 'evidence/' }));
    expect(after.KeyCount ?? 0).toBe(before.KeyCount ?? 0);
  });
});

describe('SENTINEL_TWO_PERSON_ACTIONS at start-up', () => {
  it('an unknown id stops the bot with a ConfigError naming it and the known ids', async () => {
    const err = await h.start({ SENTINEL_TWO_PERSON_ACTIONS: 'isolate-pod,isolate-pdo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^SENTINEL_TWO_PERSON_ACTIONS names an unknown action: isolate-pdo\. Known ids: .*\bisolate-node, isolate-pod\b.*\bwaive-memory-capture\b/);
  });

  it('`sentinel start` exits with status 2 and says why', async () => {
    let stderr = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        stderr += chunk.toString();
        done();
      },
    });
    const code = await main({ argv: ['start'], env: h.env({ SENTINEL_LOG_LEVEL: 'error', SENTINEL_TWO_PERSON_ACTIONS: 'unblock-egres' }), stdin: Readable.from([]), stdout: sink, stderr: sink });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^sentinel start: SENTINEL_TWO_PERSON_ACTIONS names an unknown action: unblock-egres\. Known ids: .*\bunblock-egress\b/);
  });
});
