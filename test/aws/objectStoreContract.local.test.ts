/** The S3 contract (objectStoreContract.ts) against the local object store of embedded mode, in a temp data directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalObjectStore, localS3Client } from '../../src/aws/localObjectStore.js';
import { describeObjectStoreContract } from './objectStoreContract.js';

describeObjectStoreContract('the local object store', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-objects-'));
  return { s3: localS3Client(createLocalObjectStore(dataDir)), bucket: 'sentinel-evidence', close: () => rm(dataDir, { recursive: true, force: true }) };
});
