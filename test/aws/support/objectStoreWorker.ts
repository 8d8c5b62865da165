/**
 * A process that races others on one local object store (localObjectStore.test.ts), through its
 * own LocalObjectStore on the same directory: usage `objectStoreWorker.ts <data dir> <bucket>
 * <worker id> <increments>`. It waits for `<data dir>/go`, then
 * - tries once to create `race/once` with IfNoneMatch '*' (exactly one process may win), and
 * - adds 1 to the counter in `race/counter` `increments` times, each a read then a PutObject with
 *   IfMatch <ETag read> (IfNoneMatch '*' when it does not exist yet), retried on 412/404.
 * It prints one JSON line: { once: 'won' | 'lost', retries }.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createLocalObjectStore } from '../../../src/aws/localObjectStore.js';

const [dataDir, bucket, id, increments] = process.argv.slice(2) as [string, string, string, string];
const store = createLocalObjectStore(dataDir);
const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

for (let i = 0; i < 2000; i++) {
  if (await access(join(dataDir, 'go')).then(() => true, () => false)) break;
  await new Promise((r) => setTimeout(r, 5));
}

let once: 'won' | 'lost';
try {
  await store.send(new PutObjectCommand({ Bucket: bucket, Key: 'race/once', Body: id, IfNoneMatch: '*' }));
  once = 'won';
} catch (err) {
  if (status(err) !== 412) throw err;
  once = 'lost';
}

let retries = 0;
for (let n = 0; n < Number(increments); ) {
  let current: { value: number; etag: string } | undefined;
  try {
    const out = await store.send(new GetObjectCommand({ Bucket: bucket, Key: 'race/counter' }));
    current = { value: Number(await out.Body!.transformToString()), etag: out.ETag! };
  } catch (err) {
    if (status(err) !== 404) throw err;
  }
  try {
    const body = String((current?.value ?? 0) + 1);
    await store.send(new PutObjectCommand({ Bucket: bucket, Key: 'race/counter', Body: body, ...(current ? { IfMatch: current.etag } : { IfNoneMatch: '*' }) }));
    n += 1;
  } catch (err) {
    if (status(err) !== 412 && status(err) !== 404 && status(err) !== 409) throw err;
    retries += 1;
  }
}
process.stdout.write(`${JSON.stringify({ once, retries })}\n`);
