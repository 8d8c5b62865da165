/**
 * The S3 approval store against moto (one unique bucket for this file, a unique prefix per test).
 *
 * moto 5.2.5 honours `If-None-Match: *` and `If-Match: <ETag>` on PutObject (412
 * PreconditionFailed; If-Match on a missing key: 404 NoSuchKey), but checks them without a lock
 * before writing, so under a burst of concurrent PUTs two can both pass (measured: about 1 round in
 * 100 of 20 simultaneous PUTs on one key). The store sends one conditional PUT per approval at a
 * time per instance and reads its decision back after writing (see s3ApprovalStore.ts); the last
 * two tests here cover that read-back by overwriting the store's write the way such a race would.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { type ApprovalRecord, decideTransition } from '../../src/stores/approvalStore.js';
import { S3ApprovalStore } from '../../src/stores/s3ApprovalStore.js';
import { ConfigError } from '../../src/errors.js';
import { captureError, createMotoClients, MOTO_REGION, uniqueName } from '../support/aws.js';
import { type ApprovalStoreHarness, TOKEN, approvalStoreContract, at, pendingRecord } from './approvalStoreContract.js';

let aws: AwsClients;
let bucket: string;

beforeAll(async () => {
  aws = createMotoClients();
  bucket = uniqueName('approvals');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(() => destroyAwsClients(aws));

function s3Harness(): Promise<ApprovalStoreHarness & { prefix: string }> {
  const prefix = `${uniqueName('t')}/approvals/`;
  return Promise.resolve({
    prefix,
    open: (options = {}) => new S3ApprovalStore({ s3: aws.s3, bucket, prefix, ...options }),
    corrupt: async (approvalId, text) => {
      const key = `${prefix}${approvalId}.json`;
      await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
      return `s3://${bucket}/${key}`;
    },
  });
}

async function readObject(key: string): Promise<{ body: string; etag: string }> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: await out.Body!.transformToString(), etag: out.ETag! };
}

/**
 * An S3 client that runs `hook` once, right before (`before`) or right after (`after`) the first
 * PutObject that updates an existing approval (the store's read-modify-write).
 */
function interceptingClient(real: S3Client, when: 'before' | 'after', hook: (body: ApprovalRecord) => Promise<void>): S3Client {
  let done = false;
  const send = real.send.bind(real) as (c: unknown) => Promise<unknown>;
  return {
    send: async (command: { input: unknown }) => {
      const input = command.input as { IfNoneMatch?: string; Body?: string };
      const hit = !done && command instanceof PutObjectCommand && !input.IfNoneMatch && typeof input.Body === 'string';
      if (hit) done = true;
      if (hit && when === 'before') await hook(JSON.parse(input.Body!) as ApprovalRecord);
      const out = await send(command);
      if (hit && when === 'after') await hook(JSON.parse(input.Body!) as ApprovalRecord);
      return out;
    },
  } as unknown as S3Client;
}

describe('S3ApprovalStore on moto', () => {
  approvalStoreContract(s3Harness);

  it('moto enforces If-Match on PutObject: a stale ETag gets 412, a missing key 404', async () => {
    const key = `${uniqueName('probe')}.json`;
    const first = await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v1' }));
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v2', IfMatch: first.ETag }));
    const stale = await captureError(() => aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v3', IfMatch: first.ETag })));
    expect(stale.name).toBe('PreconditionFailed');
    expect(stale.$metadata?.httpStatusCode).toBe(412);
    expect((await readObject(key)).body).toBe('v2');
    const missing = await captureError(() =>
      aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}.missing`, Body: 'x', IfMatch: first.ETag })),
    );
    expect(missing.name).toBe('NoSuchKey');
  });

  it('checkConditionalWrites passes on a bucket that enforces them', async () => {
    const { prefix } = await s3Harness();
    await new S3ApprovalStore({ s3: aws.s3, bucket, prefix }).checkConditionalWrites();
  });

  it('checkConditionalWrites fails with ConfigError on a store that ignores the preconditions', async () => {
    const { prefix } = await s3Harness();
    const ignoring = {
      send: (command: { input: Record<string, unknown> }) => {
        if (command instanceof PutObjectCommand) {
          const { IfMatch: _m, IfNoneMatch: _n, ...rest } = command.input as Record<string, unknown>;
          return aws.s3.send(new PutObjectCommand(rest as never));
        }
        return (aws.s3.send as (c: unknown) => Promise<unknown>)(command);
      },
    } as unknown as S3Client;
    const err = await new S3ApprovalStore({ s3: ignoring, bucket, prefix }).checkConditionalWrites().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(bucket);
  });

  it('stores one JSON object per approval under the prefix', async () => {
    const h = await s3Harness();
    const { approvalId } = await h.open().create(pendingRecord());
    const { body } = await readObject(`${h.prefix}${approvalId}.json`);
    expect(JSON.parse(body)).toMatchObject({ approvalId, taskToken: TOKEN, status: 'pending', revision: 1 });
  });

  it('a change another replica makes between our read and our write is not lost (If-Match), ours is re-applied', async () => {
    const h = await s3Harness();
    const { approvalId } = await h.open().create(pendingRecord());
    const rival = h.open();
    const client = interceptingClient(aws.s3, 'before', async () => {
      expect((await rival.decide(approvalId, { by: 'bob', decision: 'block', at: at(5) })).outcome).toBe('decided');
    });
    const store = new S3ApprovalStore({ s3: client, bucket, prefix: h.prefix });

    const attached = await store.attachMessage(approvalId, '123456789012345678', '223456789012345678');
    expect(attached).toMatchObject({ status: 'decided', channelId: '123456789012345678', decision: { by: ['bob'] } });
    expect(await h.open().get(approvalId)).toEqual(attached);
  });

  it('a decision whose write was overwritten by another decision (non-atomic backend) reports already-decided', async () => {
    const h = await s3Harness();
    const { approvalId } = await h.open().create(pendingRecord());
    const key = `${h.prefix}${approvalId}.json`;
    // Right after our conditional PUT lands, a rival's decision, based on the same revision, lands too.
    const client = interceptingClient(aws.s3, 'after', async (ours) => {
      const base = { ...ours, status: 'pending' as const, approvals: [], decision: undefined, revision: ours.revision - 1 };
      const rival = decideTransition(base, { by: 'mallory', decision: 'allow', at: at(5) }, 'rival-decision').next!;
      await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify({ ...rival, revision: ours.revision }) }));
    });
    const store = new S3ApprovalStore({ s3: client, bucket, prefix: h.prefix });

    const result = await store.decide(approvalId, { by: 'alice', decision: 'block', at: at(5) });
    expect(result.outcome).toBe('already-decided');
    if (result.outcome !== 'already-decided') return;
    expect(result.record.decision).toMatchObject({ decision: 'allow', by: ['mallory'], decisionId: 'rival-decision' });
  });

  it('a decision whose write was overwritten by a non-deciding write is applied again', async () => {
    const h = await s3Harness();
    const { approvalId } = await h.open().create(pendingRecord());
    const key = `${h.prefix}${approvalId}.json`;
    const original = JSON.parse((await readObject(key)).body) as ApprovalRecord;
    const client = interceptingClient(aws.s3, 'after', async () => {
      await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify({ ...original, channelId: '42', revision: 2 }) }));
    });
    const store = new S3ApprovalStore({ s3: client, bucket, prefix: h.prefix });

    const result = await store.decide(approvalId, { by: 'alice', decision: 'block', at: at(5) });
    expect(result.outcome).toBe('decided');
    const stored = await h.open().get(approvalId);
    expect(stored).toMatchObject({ status: 'decided', channelId: '42', decision: { decision: 'block', by: ['alice'] } });
  });
});
