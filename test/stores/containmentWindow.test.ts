/**
 * The automatic containment window in moto's S3 with the real SDK: the cap holds across replicas
 * (two store instances on one bucket, as two bots would have), a retried step keeps its one slot,
 * a released slot is free again, and entries leave the window when it slides past them.
 */
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { CONTAINMENT_WINDOW_KEY, ContainmentWindow } from '../../src/stores/containmentWindow.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../support/aws.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

async function newBucket(): Promise<string> {
  const bucket = uniqueName('window');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return bucket;
}

const NOW = new Date('2031-03-01T12:00:00Z');
const step = (n: number, extra: Partial<Parameters<ContainmentWindow['reserve']>[0]> = {}) => ({
  action: 'deny-egress',
  incidentId: `inc-${n}`,
  executionName: `exec-${n}`,
  input: { ip: `198.51.100.${n}`, node: 'ip-10-0-0-1.internal' },
  now: NOW,
  cap: 5,
  windowMinutes: 60,
  ...extra,
});

describe('the automatic containment window', () => {
  it('never lets more than the cap through, across two replicas reserving at once', async () => {
    const bucket = await newBucket();
    const replicas = [new ContainmentWindow({ s3: aws.s3, bucket }), new ContainmentWindow({ s3: aws.s3, bucket })];
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, n) => replicas[n % 2]!.reserve(step(n))));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(5);
    const refused = outcomes.filter((o) => !o.ok);
    expect(refused).toHaveLength(7);
    expect(refused[0]).toMatchObject({ ok: false, count: 5, nextSlotAt: '2031-03-01T13:00:00.000Z' });
    // What is stored is exactly the five that were let through.
    const stored = JSON.parse(await (await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: CONTAINMENT_WINDOW_KEY }))).Body!.transformToString()) as { entries: { id: string }[] };
    expect(stored.entries.map((e) => e.id).sort()).toEqual(outcomes.flatMap((o) => (o.ok ? [o.id] : [])).sort());
  });

  it('keeps one slot for a retried step (same execution, action and input, in any key order)', async () => {
    const window = new ContainmentWindow({ s3: aws.s3, bucket: await newBucket() });
    const first = await window.reserve(step(1));
    const again = await window.reserve(step(1, { input: { node: 'ip-10-0-0-1.internal', ip: '198.51.100.1' } }));
    expect(first).toMatchObject({ ok: true, reused: false, count: 1 });
    expect(again).toMatchObject({ ok: true, reused: true, count: 1, id: first.ok ? first.id : '' });
    expect(await window.list(NOW, 60)).toHaveLength(1);
  });

  it('gives a released slot back, and lets the window slide past old entries', async () => {
    const window = new ContainmentWindow({ s3: aws.s3, bucket: await newBucket() });
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const o = await window.reserve(step(n, { now: new Date(NOW.getTime() + n * 60_000) }));
      if (o.ok) ids.push(o.id);
    }
    expect((await window.reserve(step(9, { now: new Date(NOW.getTime() + 10 * 60_000) }))).ok).toBe(false);
    await window.release(ids[4]!, NOW);
    expect((await window.reserve(step(9, { now: new Date(NOW.getTime() + 10 * 60_000) }))).ok).toBe(true);
    // An hour after the first entry, it has left the window: one more slot.
    expect((await window.reserve(step(10, { now: new Date(NOW.getTime() + 60 * 60_000 + 1000) }))).ok).toBe(true);
    expect((await window.reserve(step(11, { now: new Date(NOW.getTime() + 60 * 60_000 + 2000) }))).ok).toBe(false);
  });

  it('with a cap of 0, lets nothing through', async () => {
    const window = new ContainmentWindow({ s3: aws.s3, bucket: await newBucket() });
    expect(await window.reserve(step(1, { cap: 0 }))).toEqual({ ok: false, count: 0, nextSlotAt: null });
  });
});
