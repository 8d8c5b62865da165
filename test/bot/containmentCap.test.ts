/**
 * Automatic containment is bounded, end to end: the real bot, the Falco playbook in moto's Step
 * Functions, the network ACL of the node's subnet in moto, the fake Discord. Defaults throughout:
 * SENTINEL_AUTO_CONTAINMENT_CAP 10 per 60 minutes, SENTINEL_NACL_MAX_RULES 20, headroom 2.
 *
 * - A decoy flood: 19 reverse shells to public decoy addresses. Ten are blocked automatically;
 *   the other nine stop at the cap and ask a responder, so the ACL never fills. The real C2 that
 *   follows is escalated too (the message says why), and a responder's Block blocks it.
 * - The bypass past the cap comes only from the approval store: a decided Block of the same
 *   action and input, for the same incident and execution. Anything else stays capped.
 */
import { randomUUID } from 'node:crypto';
import { DescribeNetworkAclsCommand, type NetworkAclEntry } from '@aws-sdk/client-ec2';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApprovalRecord } from '../../src/stores/approvalStore.js';
import { executionNameFor } from '../../src/handlers/executionName.js';
import { listBlocks } from '../../src/pipeline/blocks/blockRegistry.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { createBotHarness, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, reverseShellLine } from '../helpers/events.js';
import { createOneStepMachine } from '../helpers/oneStepMachine.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const reverseShell = (ip: string) => fluentBitLine(reverseShellLine({ ip, port: 4444, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' });

async function egress(): Promise<NetworkAclEntry[]> {
  const out = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
  return (out.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.Egress && e.RuleNumber! < 32767);
}

const deniedIps = async () => (await egress()).filter((e) => e.RuleAction === 'deny').map((e) => e.CidrBlock!.replace(/\/32$/, ''));

/** The execution (and its incident) an event started. */
async function flowOf(event: unknown): Promise<{ executionArn: string; incidentId: string }> {
  const triaged = triageEvent(event, loadPlaybookConfig(undefined));
  if (!triaged.ok) throw new Error(triaged.error);
  const prefix = executionNameFor(triaged.result.dedupeKey, new Date(0)).replace(/-0$/, '');
  const execution = await waitFor(async () => (await h.executions()).find((e) => e.name?.startsWith(prefix)), { timeoutMs: 60_000, what: 'the execution' });
  const d = await h.describeExecution(execution.executionArn!);
  return { executionArn: execution.executionArn!, incidentId: (JSON.parse(d.input!) as { incidentId: string }).incidentId };
}

const isApprovalAbout = (ip: string) => (m: APIMessage) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(ip) && JSON.stringify(m.embeds).includes('deny-egress');

function approvalIdOf(message: APIMessage): string {
  const rows = (message.components ?? []) as unknown as { components?: { custom_id?: string }[] }[];
  const m = /^apv:([A-Za-z0-9_-]+):/.exec(rows[0]?.components?.[0]?.custom_id ?? '');
  if (!m) throw new Error('not an approval message');
  return m[1]!;
}

describe('a decoy flood', () => {
  it('stops at the cap: ten decoys blocked, nine escalated, the ACL never full; the real C2 is escalated and a Block blocks it', { timeout: 300_000 }, async () => {
    const decoys = Array.from({ length: 19 }, (_, i) => `198.51.100.${i + 101}`);
    await h.sendMany(decoys.map(reverseShell));

    // Every decoy's DenyEgress step has run: blocked, or stopped at the cap (audited, approval asked).
    const escalated = await waitFor(
      async () => {
        const entries = (await h.bot.context.audit.readAudit({ what: 'containment-escalated' })).filter((e) => (e.detail as { action?: string }).action === 'deny-egress');
        const blocked = (await deniedIps()).filter((ip) => decoys.includes(ip));
        return blocked.length + entries.length >= 19 ? { entries, blocked } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: 'every decoy blocked or escalated' },
    );
    expect(escalated.blocked).toHaveLength(10);
    expect(escalated.entries).toHaveLength(9);
    expect((escalated.entries[0]!.detail as { reason: string }).reason).toMatch(/automatic containment cap is reached: 10 automatic blocks and isolations in the last 60 minutes, of 10 allowed \(SENTINEL_AUTO_CONTAINMENT_CAP\)/);
    expect((await egress()).length).toBeLessThanOrEqual(20 - 2);

    // The real C2 after the flood: not blocked by itself, escalated with the reason in the approval.
    const c2 = '203.0.113.66';
    const event = reverseShell(c2);
    await h.send(event);
    const flow = await flowOf(event);
    const approval = await h.waitForChannelMessage(isApprovalAbout(c2), 90_000);
    const proposed = approval.embeds[0]?.fields?.find((f) => f.name === 'Proposed action')?.value ?? '';
    expect(proposed.replace(/\\/g, '')).toMatch(/^`deny-egress` block this egress destination, which the playbook did NOT block by itself: automatic blocks and isolations reached their cap for this window \(SENTINEL_AUTO_CONTAINMENT_CAP\)/);
    expect(await deniedIps()).not.toContain(c2);

    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalIdOf(approval)}:block` });
    expect((await click.waitForResponse()).type).toBe(6);
    const done = await h.finished(flow.executionArn, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { results: { denyEgress: { status: string; details: { automatic: boolean } } }; denyEgressDecision: { action: string } };
    expect(output.denyEgressDecision.action).toBe('block');
    expect(output.results.denyEgress).toMatchObject({ status: 'succeeded', details: { automatic: false } });
    expect(await deniedIps()).toContain(c2);
    const [record] = await listBlocks({ s3: h.aws.s3, bucket: h.bucket }, c2);
    expect(record?.record).toMatchObject({ actor: `discord:${h.users.alice}`, severity: 'critical' });
    expect(record?.record.reason).toMatch(/^approved by discord:\d+ \(approval /);
    const approved = await h.bot.context.audit.readAudit({ what: 'containment-approved', incidentId: flow.incidentId });
    expect(approved).toEqual([expect.objectContaining({ outcome: 'run', detail: expect.objectContaining({ action: 'deny-egress', by: [`discord:${h.users.alice}`] }) })]);
  });
});

describe('the bypass past the cap', () => {
  it('comes only from the approval store: a decided Block of this action and input, for this incident and execution', { timeout: 180_000 }, async () => {
    // The window's ten automatic slots are used (by the flood above, or here when this test runs alone).
    const settings = h.bot.context.actionDeps.settings.autoContainment;
    for (let n = 0; n < settings.cap; n++) {
      await h.bot.context.containmentWindow!.reserve({ action: 'isolate-node', incidentId: 'inc-filler', executionName: `filler-${n}`, input: {}, now: new Date(), ...settings });
    }
    const ip = '203.0.113.67';
    const input = { ip, port: 4444, node: h.node.name, severity: 'critical' };
    const incidentId = `inc-bypass-${randomUUID().slice(0, 8)}`;
    const machine = await createOneStepMachine(h, { body: { kind: 'task', action: 'deny-egress', incidentId, input, timeoutSeconds: 120 }, timeoutSeconds: 120 });
    const approvals = h.bot.context.approvals;
    const decide = async (executionName: string, decision: 'allow' | 'block', proposed: Record<string, unknown> = input) => {
      const asked = await approvals.create(
        newApprovalRecord({
          taskToken: `cap-token-${randomUUID()}`,
          incidentId,
          executionName,
          proposedAction: { action: 'deny-egress', input: proposed },
          requiredApprovals: 1,
          now: new Date(),
          timeoutMs: 600_000,
        }),
      );
      await approvals.decide(asked.approvalId, { by: `discord:${h.users.carol}`, decision, at: new Date() });
    };

    // Nobody decided: capped.
    const plain = await machine.start();
    expect((await h.finished(plain.executionArn)).error).toBe('sentinel.NeedsApproval.Cap');

    // Allow for this execution; Block for another execution; Block of another input: all still capped.
    for (const [name, setup] of [
      [`allowed-${randomUUID().slice(0, 8)}`, (n: string) => decide(n, 'allow')],
      [`elsewhere-${randomUUID().slice(0, 8)}`, () => decide('another-execution', 'block')],
      [`other-ip-${randomUUID().slice(0, 8)}`, (n: string) => decide(n, 'block', { ...input, ip: '203.0.113.68' })],
    ] as const) {
      await setup(name);
      const run = await machine.start({}, name);
      expect((await h.finished(run.executionArn)).error, name).toBe('sentinel.NeedsApproval.Cap');
    }
    expect(await deniedIps()).not.toContain(ip);

    // A message that claims an approval is not a message the bot accepts at all.
    const claiming = await createOneStepMachine(h, { body: { kind: 'task', action: 'deny-egress', incidentId, input, timeoutSeconds: 60, approvedBy: `discord:${h.users.alice}` }, timeoutSeconds: 60 });
    await claiming.start();
    await waitFor(async () => h.logs.some((l) => l.includes('unreadable message dropped') && l.includes('approvedBy')), { timeoutMs: 60_000 });
    expect(await deniedIps()).not.toContain(ip);

    // Block of exactly this, for this execution: it runs, as the responder.
    const name = `approved-${randomUUID().slice(0, 8)}`;
    await decide(name, 'block', { node: h.node.name, severity: 'critical', port: 4444, ip }); // key order does not matter
    const approved = await machine.start({}, name);
    const done = await h.finished(approved.executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(await deniedIps()).toContain(ip);
    const [record] = await listBlocks({ s3: h.aws.s3, bucket: h.bucket }, ip);
    expect(record?.record.actor).toBe(`discord:${h.users.carol}`);
  });
});

describe('an automatic block near the quota', () => {
  it('asks instead of filling the ACL (the message names the quota); Allow records that nothing was done', { timeout: 240_000 }, async () => {
    // A bot whose quota leaves room for exactly one more automatic block in this ACL (and a cap that is not the limit).
    const used = (await egress()).length;
    await h.stop();
    await h.start({ SENTINEL_NACL_MAX_RULES: String(used + 2), SENTINEL_NACL_HEADROOM: '1', SENTINEL_AUTO_CONTAINMENT_CAP: '1000' });

    const first = reverseShell('203.0.113.71');
    await h.send(first);
    expect((await h.finished((await flowOf(first)).executionArn, 120_000)).status).toBe('SUCCEEDED');
    expect(await deniedIps()).toContain('203.0.113.71');

    const second = reverseShell('203.0.113.72');
    await h.send(second);
    const flow = await flowOf(second);
    const approval = await h.waitForChannelMessage(isApprovalAbout('203.0.113.72'), 90_000);
    const proposed = approval.embeds[0]?.fields?.find((f) => f.name === 'Proposed action')?.value ?? '';
    expect(proposed.replace(/\\/g, '')).toMatch(/the network ACL is within SENTINEL_NACL_HEADROOM rules of its quota \(SENTINEL_NACL_MAX_RULES\)/);
    const escalated = await h.bot.context.audit.readAudit({ what: 'containment-escalated', incidentId: flow.incidentId });
    expect((escalated[0]?.detail as { reason: string }).reason).toMatch(/holds \d+ IPv4 egress rules of its quota of \d+ \(SENTINEL_NACL_MAX_RULES\); automatic blocks stop 1 rule short of it/);

    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalIdOf(approval)}:allow` });
    expect((await click.waitForResponse()).type).toBe(6);
    const done = await h.finished(flow.executionArn, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { results: { denyEgress: { status: string; summary: string } } };
    expect(output.results.denyEgress).toMatchObject({ status: 'skipped', summary: expect.stringMatching(/^not blocked: .*so nothing was done$/) });
    expect(await deniedIps()).not.toContain('203.0.113.72');
  });
});
