/** S3 evidence objects: write, read back, and write-once with If-None-Match. */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { captureError, createMotoClients, MOTO_REGION, uniqueName } from '../../support/aws.js';

let aws: AwsClients;
let bucket: string;

beforeAll(async () => {
  aws = createMotoClients();
  bucket = uniqueName('evidence');
  await aws.s3.send(
    new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }),
  );
});
afterAll(() => destroyAwsClients(aws));

async function read(key: string): Promise<{ body: string; contentType?: string; metadata?: Record<string, string> }> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: await out.Body!.transformToString(), contentType: out.ContentType, metadata: out.Metadata };
}

describe('S3 on moto', () => {
  it('reads back what PutObject wrote, with content type and metadata', async () => {
    const key = `cases/${uniqueName('case')}/timeline.json`;
    const body = JSON.stringify({ events: [{ at: '2026-01-01T00:00:00Z', what: 'finding' }] });
    const put = await aws.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', Metadata: { case: 'c-1' } }),
    );
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);

    expect(await read(key)).toEqual({ body, contentType: 'application/json', metadata: { case: 'c-1' } });
  });

  it("PutObject with IfNoneMatch '*' creates a new key once and then fails with 412 PreconditionFailed", async () => {
    const key = `cases/${uniqueName('case')}/manifest.json`;
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }));

    const err = await captureError(() =>
      aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' })),
    );
    expect(err.name).toBe('PreconditionFailed');
    expect(err.$metadata?.httpStatusCode).toBe(412);
    expect(err.message).toBe('At least one of the pre-conditions you specified did not hold');
    expect((await read(key)).body).toBe('first');
  });

  it('PutObject without a precondition overwrites', async () => {
    const key = `cases/${uniqueName('case')}/notes.txt`;
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v1' }));
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v2' }));
    expect((await read(key)).body).toBe('v2');
  });

  it('GetObject of a missing key fails with NoSuchKey', async () => {
    const err = await captureError(() => aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: uniqueName('missing') })));
    expect(err.name).toBe('NoSuchKey');
    expect(err.$metadata?.httpStatusCode).toBe(404);
  });
});
