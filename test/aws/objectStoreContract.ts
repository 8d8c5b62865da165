/**
 * The S3 behaviour sentinel relies on, as one suite run against two backends: moto's S3 through
 * the real SDK client (objectStoreContract.moto.test.ts) and the local object store of embedded
 * mode (objectStoreContract.local.test.ts). Where moto and AWS differ, AWS is followed: the
 * backend says so with a `differs` entry and the test asserts AWS's behaviour on the other one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3MetadataValue } from '../../src/pipeline/evidence/putEvidence.js';
import { captureError, uniqueName } from '../support/aws.js';

export interface ContractBackend {
  s3: S3Client;
  bucket: string;
  close(): Promise<void>;
}

/**
 * Where a backend is known to differ from AWS (moto's gaps, test/README.md): the test asserts that
 * backend's actual behaviour, so a moto upgrade that closes the gap fails on purpose; every other
 * backend is held to AWS's documented behaviour.
 */
export interface ContractOptions {
  gaps?: {
    /** HeadObject with ChecksumMode ENABLED returns no ChecksumSHA256 (AWS returns the one the object was written with). */
    noChecksumOnHead?: true;
    /** DeleteObjects with Quiet lists the deleted keys (AWS lists only errors in quiet mode). */
    quietDeleteListsDeleted?: true;
    /** PutObject stores a body whose ChecksumSHA256 does not match it (AWS refuses it with 400). */
    acceptsWrongChecksum?: true;
  };
}

const MB = 1024 * 1024;

async function readBody(s3: S3Client, bucket: string, key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToString();
}

/** `size` bytes of a fixed pseudo-random pattern, yielded 64 KiB at a time (never held whole). */
function patternStream(size: number, seed: string): { stream: Readable; sha256: string; md5: string } {
  const block = createHash('sha512').update(seed).digest();
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  for (let left = size; left > 0; left -= chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, left));
    sha256.update(part);
    md5.update(part);
  }
  function* generate() {
    for (let left = size; left > 0; left -= chunk.length) yield Buffer.from(chunk.subarray(0, Math.min(chunk.length, left)));
  }
  return { stream: Readable.from(generate(), { objectMode: false }), sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}

export function describeObjectStoreContract(name: string, open: () => Promise<ContractBackend>, options: ContractOptions = {}): void {
  describe(`S3 as sentinel uses it: ${name}`, () => {
    let b: ContractBackend;
    let s3: S3Client;
    let bucket: string;
    const key = (what: string) => `contract/${uniqueName(what)}`;

    beforeAll(async () => {
      b = await open();
      s3 = b.s3;
      bucket = b.bucket;
    });
    afterAll(async () => {
      await b?.close();
    });

    it("writes once with IfNoneMatch '*': a second put is 412 PreconditionFailed and the first body stays", async () => {
      const k = key('once');
      const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'first', IfNoneMatch: '*' }));
      expect(first.ETag).toBe(`"${createHash('md5').update('first').digest('hex')}"`);
      const err = await captureError(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'second', IfNoneMatch: '*' })));
      expect(err.name).toBe('PreconditionFailed');
      expect(err.$metadata?.httpStatusCode).toBe(412);
      expect(await readBody(s3, bucket, k)).toBe('first');
    });

    it('replaces with IfMatch <current ETag>; a stale ETag is 412 PreconditionFailed and changes nothing', async () => {
      const k = key('cas');
      const v1 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'v1', ContentType: 'application/json', IfNoneMatch: '*' }));
      const v2 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'v2', ContentType: 'application/json', IfMatch: v1.ETag }));
      expect(v2.ETag).not.toBe(v1.ETag);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
      expect(got.ETag).toBe(v2.ETag);
      expect(await got.Body!.transformToString()).toBe('v2');
      const stale = await captureError(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'v3', IfMatch: v1.ETag })));
      expect(stale.name).toBe('PreconditionFailed');
      expect(stale.$metadata?.httpStatusCode).toBe(412);
      expect(await readBody(s3, bucket, k)).toBe('v2');
    });

    it('IfMatch on a key with no object is 404 NoSuchKey (AWS: conditional writes), and creates nothing', async () => {
      const k = key('cas-missing');
      const err = await captureError(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'x', IfMatch: '"0123456789abcdef0123456789abcdef"' })));
      expect(err.name).toBe('NoSuchKey');
      expect(err.$metadata?.httpStatusCode).toBe(404);
      expect((await captureError(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k })))).$metadata?.httpStatusCode).toBe(404);
    });

    it('keeps user metadata as putEvidence writes it (non-ASCII percent-encoded), and the content type, on GetObject and HeadObject', async () => {
      const k = key('meta');
      const path = '/var/www/html/uploads/ünïcödé shell%20.php ';
      const metadata = { sha256: 'ab'.repeat(32), path: s3MetadataValue(path), 'incident-id': 'inc-1', pod: s3MetadataValue('web/dvwa-6d8f7c9b4-x2x9k') };
      expect(metadata.path).not.toBe(path);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: Buffer.from([0, 1, 2, 255]), ContentType: 'application/octet-stream', Metadata: metadata, IfNoneMatch: '*' }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k }));
      expect(head.Metadata).toEqual(metadata);
      expect(decodeURIComponent(head.Metadata!.path!)).toBe(path);
      expect(head.ContentType).toBe('application/octet-stream');
      expect(head.ContentLength).toBe(4);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
      expect(got.Metadata).toEqual(metadata);
      expect(got.ETag).toBe(head.ETag);
      expect(got.LastModified).toBeInstanceOf(Date);
      expect([...(await got.Body!.transformToByteArray())]).toEqual([0, 1, 2, 255]);
    });

    it('returns metadata keys lower-cased, as S3 does', async () => {
      const k = key('meta-case');
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'x', Metadata: { 'Content-SHA256': 'abc', Case: 'c-1' } }));
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k }))).Metadata).toEqual({ 'content-sha256': 'abc', case: 'c-1' });
    });

    it('returns the ChecksumSHA256 an object was written with when asked (ChecksumMode ENABLED), and not unasked', async () => {
      const k = key('checksum');
      const body = 'evidence bytes';
      const checksum = createHash('sha256').update(body).digest('base64');
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: body, ChecksumSHA256: checksum, IfNoneMatch: '*' }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k, ChecksumMode: 'ENABLED' }));
      expect(head.ChecksumSHA256).toBe(options.gaps?.noChecksumOnHead ? undefined : checksum);
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k }))).ChecksumSHA256).toBeUndefined();
    });

    it('refuses a body that does not match its ChecksumSHA256, and stores nothing', async () => {
      const k = key('bad-checksum');
      const wrong = createHash('sha256').update('other bytes').digest('base64');
      const put = () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'evidence bytes', ChecksumSHA256: wrong, IfNoneMatch: '*' }));
      if (options.gaps?.acceptsWrongChecksum) {
        await put();
        expect(await readBody(s3, bucket, k)).toBe('evidence bytes');
        return;
      }
      expect((await captureError(put)).$metadata?.httpStatusCode).toBe(400);
      expect((await captureError(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k })))).$metadata?.httpStatusCode).toBe(404);
    });

    it('stores application/octet-stream when no content type is given (the SDK sends it, S3 keeps it)', async () => {
      const k = key('no-type');
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'x' }));
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k }))).ContentType).toBe('application/octet-stream');
    });

    it('streams a 20 MB body in and out: size, ETag and sha256 match', async () => {
      const k = key('big');
      const size = 20 * MB;
      const { stream, sha256, md5 } = patternStream(size, k);
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: stream, ContentLength: size, ContentType: 'application/vnd.tcpdump.pcap', IfNoneMatch: '*' }));
      expect(put.ETag).toBe(`"${md5}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
      expect(got.ContentLength).toBe(size);
      const hash = createHash('sha256');
      let count = 0;
      for await (const chunk of got.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        count += chunk.length;
      }
      expect(count).toBe(size);
      expect(hash.digest('hex')).toBe(sha256);
    }, 120_000);

    it('lists by prefix in key order (UTF-8 bytes), page by page with ContinuationToken, and after StartAfter', async () => {
      const p = key('list');
      const names = ['a', 'b', 'Z', 'é', 'c/1', 'c/2', 'd.json', 'e'];
      const keys = names.map((n) => `${p}/${n}`);
      for (const k of [...keys, `${p}-other/x`, `${p}x`]) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(expected.map((k) => k.slice(p.length + 1))).toEqual(['Z', 'a', 'b', 'c/1', 'c/2', 'd.json', 'e', 'é']);

      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${p}/`, MaxKeys: 3, ...(token ? { ContinuationToken: token } : {}) }));
        pages.push((out.Contents ?? []).map((c) => c.Key!));
        expect(out.KeyCount).toBe(out.Contents?.length ?? 0);
        for (const c of out.Contents ?? []) expect(c.Size).toBe(Buffer.byteLength(c.Key!));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
        if (out.IsTruncated) expect(token).toBeTruthy();
      } while (token);
      expect(pages.map((page) => page.length)).toEqual([3, 3, 2]);
      expect(pages.flat()).toEqual(expected);

      const after = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${p}/`, StartAfter: `${p}/c/1` }));
      expect(after.Contents?.map((c) => c.Key)).toEqual(expected.slice(expected.indexOf(`${p}/c/1`) + 1));
      expect(after.IsTruncated).toBe(false);

      const nested = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${p}/c` }));
      expect(nested.Contents?.map((c) => c.Key)).toEqual([`${p}/c/1`, `${p}/c/2`]);

      const none = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${p}/nothing/` }));
      expect(none.Contents ?? []).toEqual([]);
      expect(none.KeyCount).toBe(0);
      expect(none.IsTruncated).toBe(false);
    });

    it('deletes: the object is gone (404), deleting a missing key succeeds, DeleteObjects removes many (Quiet reports nothing deleted)', async () => {
      const p = key('delete');
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${p}/one`, Body: '1' }));
      const del = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${p}/one` }));
      expect(del.$metadata.httpStatusCode).toBe(204);
      expect((await captureError(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${p}/one` })))).name).toBe('NoSuchKey');
      expect((await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${p}/never` }))).$metadata.httpStatusCode).toBe(204);

      const many = ['x', 'y', 'z'].map((n) => `${p}/many/${n}`);
      for (const k of many) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
      const loud = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: many[0]! }, { Key: `${p}/many/missing` }] } }));
      expect((loud.Deleted ?? []).map((d) => d.Key).sort()).toEqual([many[0], `${p}/many/missing`].sort());
      expect(loud.Errors ?? []).toEqual([]);
      const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: many.slice(1).map((Key) => ({ Key })), Quiet: true } }));
      expect((quiet.Deleted ?? []).map((d) => d.Key).sort()).toEqual(options.gaps?.quietDeleteListsDeleted ? many.slice(1) : []);
      expect(quiet.Errors ?? []).toEqual([]);
      const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${p}/` }));
      expect(left.Contents ?? []).toEqual([]);
    });

    it('answers a missing key with NoSuchKey (GetObject) and NotFound (HeadObject), both 404', async () => {
      const k = key('missing');
      const get = await captureError(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })));
      expect(get.name).toBe('NoSuchKey');
      expect(get.$metadata?.httpStatusCode).toBe(404);
      const head = await captureError(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k })));
      expect(head.name).toBe('NotFound');
      expect(head.$metadata?.httpStatusCode).toBe(404);
    });

    it('overwrites without a condition, and stores an empty body', async () => {
      const k = key('plain');
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'v1' }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: randomBytes(0) }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
      expect(got.ContentLength).toBe(0);
      expect(await got.Body!.transformToString()).toBe('');
    });
  });
}
