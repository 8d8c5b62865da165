/**
 * Blocks expire, end to end: the real bot (startBot) with moto (EC2 network ACL, S3 block records)
 * and the fake Discord. The expiry sweeper lifts a block whose expiresAt passed, through
 * unblock-egress for that one block record, reports it in the incident channel (escaped, no
 * mentions) and in the audit log, and leaves every other block alone. `/unblock block:<id>` lifts
 * exactly one block record too.
 */
import { DescribeNetworkAclsCommand, type NetworkAclEntry } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { waitFor } from '../support/aws.js';
import type { InteractionHandle, SlashOptionValue } from '../support/fakeDiscord/types.js';
import { createBotHarness, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness({ registerCommands: true, env: { SENTINEL_BLOCK_SWEEP_SECONDS: '5' } });
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

async function egressDenies(): Promise<NetworkAclEntry[]> {
  const out = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
  return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress && e.RuleAction === 'deny' && e.RuleNumber! < 32767);
}

async function recordKeys(): Promise<string[]> {
  const out = await h.aws.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: 'blocks/' }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

/** A block made by deny-egress as a playbook would make it, expiring at `expiresAt`. */
async function block(ip: string, port: number, expiresAt?: string) {
  const result = await invokeAction(
    h.bot.context.actions['deny-egress']!,
    { ip, port, node: h.node.name, severity: 'high', ...(expiresAt ? { expiresAt } : {}) },
    { actor: 'stepfunctions:test-block', incidentId: `inc-expiry-${port}` },
    h.bot.context.actionDeps,
  );
  expect(result.status, result.summary).toBe('succeeded');
  return result.details as { blockId: string; ruleNumber: number; naclId: string; expiresAt: string };
}

describe('expired blocks', () => {
  it('are lifted by the sweeper, one block record at a time, reported in the channel and the audit log; the others stay', async () => {
    const ip = '198.51.100.61';
    const soon = await block(ip, 4444, new Date(Date.now() + 3000).toISOString());
    const later = await block(ip, 443);
    expect(Date.parse(later.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000); // SENTINEL_BLOCK_TTL_HOURS, 24 by default

    const report = await h.waitForChannelMessage((m) => (m.embeds[0]?.description ?? '').includes(soon.blockId), 60_000);
    expect(report.embeds[0]?.title).toBe('Expired egress blocks: 1 of 1 lifted');
    expect(report.embeds[0]?.description).toContain(`rule ${soon.ruleNumber} of ${soon.naclId}, incident inc-expiry-4444`);
    expect(report.embeds[0]?.description).toMatch(/unblocked block .* removed rule/);
    const post = h.posted().find((c) => JSON.stringify(c.body).includes(soon.blockId));
    expect((post?.body as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [] });

    const denies = await egressDenies();
    expect(denies.map((e) => e.RuleNumber)).toContain(later.ruleNumber);
    expect(denies.map((e) => e.RuleNumber)).not.toContain(soon.ruleNumber);
    expect(await recordKeys()).toContain(`blocks/${later.blockId}.json`);
    expect(await recordKeys()).not.toContain(`blocks/${soon.blockId}.json`);

    const audit = await waitFor(async () => {
      const entries = await h.bot.context.audit.readAudit({ what: 'block-expired' });
      return entries.find((e) => (e.detail as { block?: string }).block === soon.blockId);
    });
    expect(audit).toMatchObject({ who: 'sentinel:block-expiry', outcome: 'succeeded', incidentId: 'inc-expiry-4444', detail: { ip, port: 4444, expiresAt: soon.expiresAt } });
    // Reported once: later sweeps find nothing of it.
    await new Promise((r) => setTimeout(r, 6000));
    expect(h.posted().filter((c) => JSON.stringify(c.body).includes(soon.blockId))).toHaveLength(1);
  });
});

describe('/unblock block:<id>', () => {
  const EPHEMERAL = 64;
  const run = (userId: string, name: string, options: Record<string, SlashOptionValue>): InteractionHandle =>
    h.discord.runSlashCommand({ userId, name, options, channelId: h.channelId });
  async function shown(handle: InteractionHandle): Promise<APIMessage> {
    const response = await handle.waitForResponse();
    if (response.type === 5) await handle.waitForEdit(undefined, 15_000);
    const original = handle.original()!;
    expect((original.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
    return original;
  }
  const embedOf = (m: APIMessage): APIEmbed => m.embeds[0]!;
  const confirmIdOf = (m: APIMessage) =>
    /^cfm:([^:]+):yes$/.exec(((m.components ?? []) as unknown as { components: { custom_id: string }[] }[])[0]?.components[0]?.custom_id ?? '')?.[1];

  it('lifts exactly that block on Confirm, and none of the other blocks of the same IP', async () => {
    const ip = '198.51.100.62';
    const keep = await block(ip, 8080);
    const lift = await block(ip, 8443);

    const plan = await shown(run(h.users.alice, 'unblock', { block: lift.blockId }));
    expect(embedOf(plan).description).toBe(`unblock block ${lift.blockId}`);
    expect(embedOf(plan).fields?.[0]?.value).toContain(`remove rule ${lift.ruleNumber} of ${lift.naclId}`);
    const confirm = h.discord.clickButton({ userId: h.users.alice, messageId: plan.id, customId: `cfm:${confirmIdOf(plan)}:yes` });
    await confirm.waitForResponse();
    await confirm.waitForEdit(undefined, 15_000);

    const rules = (await egressDenies()).map((e) => e.RuleNumber);
    expect(rules).toContain(keep.ruleNumber);
    expect(rules).not.toContain(lift.ruleNumber);
    expect(await recordKeys()).toContain(`blocks/${keep.blockId}.json`);
    expect(await recordKeys()).not.toContain(`blocks/${lift.blockId}.json`);
  });

  it('refuses both an ip and a block, and neither', async () => {
    const both = run(h.users.alice, 'unblock', { ip: '198.51.100.62', block: '198.51.100.62/acl-0abc1234/1' });
    expect(String((await both.waitForResponse()).data?.content)).toBe('Cannot run /unblock: give either ip (and optionally port) or block');
    const none = run(h.users.alice, 'unblock', {});
    expect(String((await none.waitForResponse()).data?.content)).toBe('Cannot run /unblock: give either ip (and optionally port) or block');
  });
});
