/**
 * AWS throttling. moto never throttles, so the bot's AWS endpoint is a proxy in front of moto
 * (test/helpers/throttlingProxy.ts) that answers chosen EC2 calls as EC2 does when a caller is over
 * its rate: HTTP 503, RequestLimitExceeded. Only that answer is injected; everything else (SQS, Step
 * Functions running the Falco playbook, S3, the EC2 calls let through) is moto, and Discord and
 * Kubernetes are the fakes.
 *
 * - Throttled for a moment: the SDK retries with backoff (its standard strategy, attempt N of 3 in
 *   each request's amz-sdk-request header) and the block is made.
 * - Throttled for good: each attempt of the step ends in SendTaskFailure (sentinel.Transient), the
 *   playbook retries it with its own backoff, then catches it, records the incident and reports it.
 *   The execution ends; it never waits for a step nobody will answer.
 */
import { randomBytes } from 'node:crypto';
import { DescribeNetworkAclsCommand } from '@aws-sdk/client-ec2';
import { GetExecutionHistoryCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { waitFor } from '../support/aws.js';
import { createBotHarness, parseLogs, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, reverseShellLine } from '../helpers/events.js';
import { startThrottlingProxy, type ThrottlingProxy } from '../helpers/throttlingProxy.js';

let h: BotHarness;
let proxy: ThrottlingProxy;

beforeAll(async () => {
  h = await createBotHarness();
  proxy = await startThrottlingProxy(inject('motoEndpoint'));
  await h.start({ AWS_ENDPOINT_URL: proxy.url });
}, 180_000);

afterAll(async () => {
  await h?.close();
  await proxy?.close();
});

const attackerIp = () => `203.0.113.${10 + (randomBytes(1)[0]! % 240)}`;

async function history(executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const out = await h.aws.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }));
    events.push(...(out.events ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return events;
}

/** The execution whose input names the attacker's address. */
async function executionFor(ip: string): Promise<{ executionArn: string; incidentId: string }> {
  return waitFor(
    async () => {
      for (const e of await h.executions()) {
        const d = await h.describeExecution(e.executionArn!);
        if (d.input?.includes(ip)) return { executionArn: e.executionArn!, incidentId: (JSON.parse(d.input) as { incidentId: string }).incidentId };
      }
      return undefined;
    },
    { timeoutMs: 60_000, what: `the execution for ${ip}` },
  );
}

async function denyRules(ip: string) {
  const acls = await h.aws.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [h.node.subnetId] }] }));
  return (acls.NetworkAcls ?? []).flatMap((a) => a.Entries ?? []).filter((e) => e.Egress && e.CidrBlock === `${ip}/32`);
}

async function reportOf(incidentId: string) {
  return waitFor(
    async () => {
      const s = await h.bot.context.incidents.get(incidentId);
      const m = s?.messageId ? h.discord.message(s.messageId) : undefined;
      return (s?.status === 'done' || s?.status === 'failed') && m?.embeds[0]?.title?.startsWith('Report: ') ? { status: s.status, message: m } : undefined;
    },
    { timeoutMs: 60_000, what: 'the report' },
  );
}

describe('AWS throttling', () => {
  it('EC2 throttling for a moment: the SDK retries with backoff, the block is made once', { timeout: 180_000 }, async () => {
    const ip = attackerIp();
    const from = proxy.ec2Calls.length;
    proxy.throttleEc2(2);
    await h.send(fluentBitLine(reverseShellLine({ ip, port: 4444, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' }));
    const { executionArn, incidentId } = await executionFor(ip);
    const done = await h.finished(executionArn, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { results: { denyEgress?: { status: string; summary?: string } }; error?: unknown };
    expect(output.error).toBeUndefined();
    expect(output.results.denyEgress?.status, `deny-egress: ${output.results.denyEgress?.summary ?? ''}`).toBe('succeeded');
    expect(await denyRules(ip)).toHaveLength(1);

    // The first EC2 request was throttled twice and made on the SDK's third attempt, after a backoff.
    const calls = proxy.ec2Calls.slice(from);
    const [first, second, third] = calls;
    expect([first?.throttled, second?.throttled, third?.throttled]).toEqual([true, true, false]);
    expect(new Set([first?.ec2Action, second?.ec2Action, third?.ec2Action]).size).toBe(1);
    expect([first, second, third].map((c) => /attempt=(\d+)/.exec(c?.sdkRequest ?? '')?.[1])).toEqual(['1', '2', '3']);
    expect(third!.at).toBeGreaterThan(first!.at);
    expect(calls.slice(3).every((c) => !c.throttled)).toBe(true);
    // No step failed: Step Functions saw one answer, a success.
    const events = await history(executionArn);
    expect(events.filter((e) => e.type === 'TaskFailed')).toEqual([]);
    expect((await reportOf(incidentId)).status).toBe('done');
  });

  it('EC2 throttling that does not stop: SendTaskFailure each time, the playbook retries with backoff, then records and reports the failure; the execution ends', { timeout: 240_000 }, async () => {
    const ip = attackerIp();
    const from = proxy.ec2Calls.length;
    proxy.throttleEc2(Number.POSITIVE_INFINITY);
    try {
      await h.send(fluentBitLine(reverseShellLine({ ip, port: 4445, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name, priority: 'Critical' }));
      const { executionArn, incidentId } = await executionFor(ip);
      const done = await h.finished(executionArn, 180_000);
      expect(done.status).toBe('SUCCEEDED');
      const output = JSON.parse(done.output!) as { results: { denyEgress?: unknown }; error?: { Error: string } };
      expect(output.error?.Error).toBe('sentinel.Transient');
      expect(output.results.denyEgress).toBeUndefined();
      expect(await denyRules(ip)).toEqual([]);

      // Four attempts of the step (the first and the playbook's three retries), each failed through
      // SendTaskFailure after the SDK's own three tries, further apart each time; then the Catch.
      const events = await history(executionArn);
      const failed = events.filter((e) => e.type === 'TaskFailed');
      expect(failed.map((e) => e.taskFailedEventDetails?.error)).toEqual(['sentinel.Transient', 'sentinel.Transient', 'sentinel.Transient', 'sentinel.Transient']);
      const scheduled = events.filter((e) => e.type === 'TaskScheduled').map((e) => e.timestamp!.getTime());
      const gaps = failed.slice(0, 3).map((f, i) => scheduled[i + 1]! - f.timestamp!.getTime());
      expect(gaps[0]).toBeGreaterThanOrEqual(4_000);
      expect(gaps[1]).toBeGreaterThan(gaps[0]!);
      expect(gaps[2]).toBeGreaterThan(gaps[1]!);
      const entered = events.filter((e) => e.stateEnteredEventDetails?.name).map((e) => e.stateEnteredEventDetails!.name!);
      expect(entered).toEqual(['Route', 'DenyEgress', 'RecordIncident', 'Report']);
      // moto keeps a retried step's token and may close the execution as soon as the last attempt is
      // submitted: the bot's handling of that attempt can still be under way. Counted once it ended.
      await waitFor(
        async () => (parseLogs(h.logs).filter((l) => l.action === 'deny-egress' && l.message === 'action failed' && l.incidentId === incidentId).length >= 4 ? true : undefined),
        { timeoutMs: 60_000, what: 'the bot to end its four attempts of the step' },
      );
      const calls = proxy.ec2Calls.slice(from);
      expect(calls.length).toBeGreaterThanOrEqual(12);
      expect(calls.every((c) => c.throttled)).toBe(true);
      expect(calls.filter((c) => /attempt=3/.test(c.sdkRequest ?? '')).length).toBe(4);
      const failures = parseLogs(h.logs).filter((l) => l.action === 'deny-egress' && l.message === 'action failed' && l.incidentId === incidentId);
      expect(failures).toHaveLength(4);
      expect(String(failures[0]!.reason)).toMatch(/RequestLimitExceeded|Request limit exceeded/);

      // The report shows the failure, and nothing is left waiting.
      const { status, message } = await reportOf(incidentId);
      expect(status).toBe('failed');
      expect(JSON.stringify(message.embeds)).toContain('sentinel.Transient');
    } finally {
      proxy.stop();
    }
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) + (await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'both queues drained' });
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);
  });
});
