import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../errors.js';
import type { DeadLetterStore } from './deadLetterStore.js';
import { FileDeadLetterStore } from './fileDeadLetterStore.js';
import { S3DeadLetterStore } from './s3DeadLetterStore.js';
import type { StoreLogger } from './storeIo.js';

export interface DeadLetterStoreSettings {
  /** Where the bot's shared state lives (SENTINEL_APPROVAL_STORE): the data directory, or the evidence bucket. */
  kind: 'file' | 's3';
  /** SENTINEL_DATA_DIR: records go to `<dataDir>/dead-letters/` (file). */
  dataDir: string;
  /** SENTINEL_EVIDENCE_BUCKET: records go to `sentinel/dead-letters/` in it (s3). */
  bucket: string | undefined;
  s3: S3Client | undefined;
  logger?: StoreLogger;
  secrets?: readonly string[];
}

/**
 * The dead-letter record store where the bot's other shared state is: beside the file approval
 * store in the data directory, or in the evidence bucket when approvals are in S3 (replicas, and
 * `sentinel dlq` run elsewhere, read the same records).
 */
export function createDeadLetterStore(settings: DeadLetterStoreSettings): DeadLetterStore {
  const common = { ...(settings.logger ? { logger: settings.logger } : {}), ...(settings.secrets ? { secrets: settings.secrets } : {}) };
  if (settings.kind === 's3') {
    if (!settings.bucket || !settings.s3) throw new ConfigError('SENTINEL_APPROVAL_STORE=s3 keeps dead-letter records in the evidence bucket: set SENTINEL_EVIDENCE_BUCKET');
    return new S3DeadLetterStore({ s3: settings.s3, bucket: settings.bucket, ...common });
  }
  return new FileDeadLetterStore({ dir: join(settings.dataDir, 'dead-letters'), ...common });
}
