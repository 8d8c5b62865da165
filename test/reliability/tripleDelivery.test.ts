/**
 * At-least-once delivery, three times over: every SQS message the bot receives, on both queues,
 * arrives three times, and the incident still gives exactly one execution, one approval and one
 * NACL rule (and one incident message, one report).
 *
 * End to end: moto (SQS, Step Functions running the Falco playbook, EC2, S3), the fake Discord,
 * the fake Kubernetes API. The event goes on the intake queue three times (a source that retried
 * its send). The playbook's own messages are tripled on their way: the state machine sends them to
 * a relay queue, and the test puts each one three times on the bot's control queue, as the state
 * machines' role (the bot checks the SenderId), then deletes it from the relay. The three copies go
 * in one batch, so the bot receives and handles them together, the hardest case.
 *
 * The route is block-egress with SENTINEL_AUTO_CONTAINMENT_CAP=0 (every block asks a responder):
 * a deny-egress step the bot refuses to run alone, an approval request, Block, the deny-egress step
 * again (approved), the incident record, the report: each of them tripled.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DescribeNetworkAclsCommand } from '@aws-sdk/client-ec2';
import { CreateStateMachineCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients } from '../../src/aws/clients.js';
import { createStateMachineRoleClients, MOTO_ACCOUNT_ID, uniqueName, waitFor } from '../support/aws.js';
import { createBotHarness, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, reverseShellLine } from '../helpers/events.js';

const COPIES = 3;

let h: BotHarness;
let stateMachineArn: string;
let relayUrl: string;
const relayed: { kind: string; action?: string }[] = [];
let relaying: Promise<void> | undefined;
let stopRelay = false;
const stateMachineRole = createStateMachineRoleClients();

/** Moves every message from the relay queue to the bot's control queue, three copies each, as the state machines' role. */
async function relay(): Promise<void> {
  while (!stopRelay) {
    const out = await h.aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: relayUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const m of out.Messages ?? []) {
      const entries = Array.from({ length: COPIES }, (_, i) => ({ Id: `copy${i}`, MessageBody: m.Body! }));
      const sent = await stateMachineRole.sqs.send(new SendMessageBatchCommand({ QueueUrl: h.controlQueueUrl, Entries: entries }));
      if (sent.Failed?.length) throw new Error('relaying a control message failed');
      const body = JSON.parse(m.Body!) as { kind: string; action?: string };
      relayed.push({ kind: body.kind, ...(body.action ? { action: body.action } : {}) });
      await h.aws.sqs.send(new DeleteMessageCommand({ QueueUrl: relayUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}

beforeAll(async () => {
  h = await createBotHarness();
  relayUrl = (await h.aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('relay') }))).QueueUrl!;
  const asl = await readFile(new URL('../../deploy/statemachines/falco-incident.asl.json', import.meta.url), 'utf8');
  const created = await h.aws.sfn.send(
    new CreateStateMachineCommand({ name: uniqueName('falco-tripled'), definition: asl.split('${ControlQueueUrl}').join(relayUrl), roleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/sentinel-sfn` }),
  );
  stateMachineArn = created.stateMachineArn!;
  await h.start({ SENTINEL_STATE_MACHINE_FALCO: stateMachineArn, SENTINEL_AUTO_CONTAINMENT_CAP: '0' });
  relaying = relay();
}, 180_000);

afterAll(async () => {
  stopRelay = true;
  await relaying?.catch(() => undefined);
  destroyAwsClients(stateMachineRole);
  await h?.close();
});

const isApproval = (m: APIMessage) => (m.components?.length ?? 0) > 0;

describe('every message delivered three times', () => {
  it('one execution, one approval, one NACL rule: the event and each playbook message arrive three times, in one batch', { timeout: 300_000 }, async () => {
    const ip = `198.51.100.${10 + (randomBytes(1)[0]! % 200)}`;
    const event = fluentBitLine(reverseShellLine({ ip, port: 4444, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' });
    await h.sendMany(Array.from({ length: COPIES }, () => event));

    // One execution, however many deliveries.
    const execution = await waitFor(async () => (await h.aws.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions?.[0], { timeoutMs: 60_000, what: 'the execution' });
    const incidentId = (JSON.parse((await h.describeExecution(execution.executionArn!)).input!) as { incidentId: string }).incidentId;
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === COPIES ? true : undefined), { what: 'the three deliveries counted on the incident' });

    // The capped deny-egress step and the approval request, each tripled: one approval, one message with buttons.
    const approval = await h.waitForChannelMessage((m) => isApproval(m) && JSON.stringify(m.embeds).includes(ip), 120_000);
    const records = await waitFor(async () => {
      const r = await h.bot.context.approvals.listForIncident(incidentId);
      return r.length ? r : undefined;
    });
    expect(records).toHaveLength(1);
    const customId = `apv:${records[0]!.approvalId}:block`;
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
    expect((await click.waitForResponse()).type).toBe(6);

    const done = await h.finished(execution.executionArn!, 180_000);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { results: { denyEgress?: { status: string } }; error?: unknown };
    expect(output.error).toBeUndefined();
    expect(output.results.denyEgress?.status).toBe('succeeded');

    // The report, tripled: the incident's one message shows it.
    await waitFor(async () => {
      const s = await h.bot.context.incidents.get(incidentId);
      return s?.status === 'done' && s.messageId && h.discord.message(s.messageId)?.embeds[0]?.title?.startsWith('Report: ') ? true : undefined;
    }, { timeoutMs: 120_000, what: 'the report' });

    // Exactly one of each.
    expect((await h.aws.sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions).toHaveLength(1);
    const acls = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
    const rules = (acls.NetworkAcls ?? []).flatMap((a) => a.Entries ?? []).filter((e) => e.Egress && e.CidrBlock === `${ip}/32`);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ RuleAction: 'deny' });
    expect(await h.bot.context.approvals.listForIncident(incidentId)).toHaveLength(1);
    const about = h.discord.messages(h.channelId).filter((m) => JSON.stringify(m.embeds).includes(incidentId) || JSON.stringify(m.embeds).includes(ip));
    expect(about.filter(isApproval)).toHaveLength(1);
    expect(about.filter((m) => !isApproval(m))).toHaveLength(1);
    const audit = await h.bot.context.audit.readAudit({ incidentId });
    // The approved step ran as the responder's decision on that one approval. Its copies are
    // messages of their own (as a step the playbook retries is), so each copy may run the block
    // again once the first is done: idempotently, as the network ACL's one rule above shows.
    const approvedRuns = audit.filter((e) => e.what === 'containment-approved');
    expect(approvedRuns.length).toBeGreaterThanOrEqual(1);
    expect(new Set(approvedRuns.map((e) => e.approvalId))).toEqual(new Set([records[0]!.approvalId]));
    expect(audit.filter((e) => e.what === 'report')).toHaveLength(1);

    // Every playbook message went through three times: the capped step, the approval request, the
    // approved step, the record, the report (at least; moto may add none of its own).
    const kinds = relayed.map((r) => r.action ?? r.kind);
    expect(kinds).toEqual(expect.arrayContaining(['deny-egress', 'approval-request', 'record-incident', 'report']));
    expect(kinds.filter((k) => k === 'deny-egress')).toHaveLength(2);
    // Nothing left behind: both queues empty, nothing dead-lettered.
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) + (await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'both queues drained' });
    expect(await h.queueDepth(h.dlqUrl)).toBe(0);
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);
  });
});
