import { ListObjectsV2Command, type _Object, type S3Client } from '@aws-sdk/client-s3';

export interface ListS3ObjectsInput {
  bucket: string;
  prefix: string;
  /** Stop after this many pages (1000 keys each at most); no limit when absent. */
  maxPages?: number;
}

/**
 * The objects under a prefix, in S3's key order, one ListObjectsV2 page at a time (following
 * NextContinuationToken while IsTruncated). Errors are the SDK's, for the caller to name.
 *
 * Not the SDK's paginateListObjectsV2: its paginator refuses any client that is not an S3Client
 * instance ("Invalid client, expected instance of S3Client"), and in embedded mode `deps.aws.s3`
 * is the local object store (localObjectStore.ts), which serves the same commands. This one loop
 * serves every S3 listing sentinel makes, on S3 and on the local store alike.
 */
export async function* listS3Objects(s3: S3Client, input: ListS3ObjectsInput): AsyncGenerator<_Object> {
  let token: string | undefined;
  for (let page = 0; input.maxPages === undefined || page < input.maxPages; page += 1) {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: input.bucket, Prefix: input.prefix, ...(token ? { ContinuationToken: token } : {}) }));
    yield* out.Contents ?? [];
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (!token) return;
  }
}
