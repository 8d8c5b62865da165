/**
 * GetObject's Body from the local object store: a Node Readable with the AWS SDK's stream
 * helpers (transformToString, transformToByteArray, transformToWebStream), as the SDK gives S3's.
 * - Small objects (up to 1 MiB) are read whole when GetObject answers: a consistent copy, and no
 *   file left open when the caller reads only the metadata.
 * - Larger ones are opened when GetObject answers (the version's bytes stay readable even if the
 *   object is replaced meanwhile) and streamed, never buffered. A body nobody starts reading
 *   within `idleMs` is closed, as S3 closes an idle connection.
 * Either way the bytes are checked against the version's recorded size and SHA-256: a file
 * changed on disk makes the read fail (InternalError naming it), never pass silently.
 */
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { pipeline, Readable, Transform } from 'node:stream';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { isErrno } from '../../stores/storeIo.js';
import { makeS3Error } from './makeS3Error.js';
import type { ObjectVersion } from './readObjectVersion.js';

/** Objects up to this size are read whole. */
export const WHOLE_READ_MAX = 1024 * 1024;
/** A streamed body not read within this time is closed. */
export const IDLE_BODY_MS = 120_000;

export type ObjectBody = NonNullable<GetObjectCommandOutput['Body']>;

function changedOnDisk(v: ObjectVersion, why: string): Error {
  return makeS3Error('InternalError', `the stored bytes of ${v.record.bucket}/${v.record.key} (${v.blobPath}) ${why}: the file was changed on disk`);
}

/** Adds the SDK's stream helpers to a byte stream. Each may be used once, as with the SDK. */
function withSdkHelpers(stream: Readable): ObjectBody {
  let transformed = false;
  const claim = () => {
    if (transformed) throw new Error('The stream has already been transformed.');
    transformed = true;
  };
  const bytes = async (): Promise<Uint8Array> => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const all = Buffer.concat(chunks);
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  };
  return Object.assign(stream, {
    async transformToByteArray(): Promise<Uint8Array> {
      claim();
      return bytes();
    },
    async transformToString(encoding?: string): Promise<string> {
      claim();
      const b = await bytes();
      if (encoding === undefined || Buffer.isEncoding(encoding)) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString(encoding as BufferEncoding | undefined);
      return new TextDecoder(encoding).decode(b);
    },
    transformToWebStream(): ReadableStream {
      claim();
      if (stream.readableFlowing !== null) throw new Error('The stream has been consumed by other callbacks.');
      return Readable.toWeb(stream) as unknown as ReadableStream;
    },
  }) as unknown as ObjectBody;
}

/** The version's bytes as a Body; 'gone' when its file has been removed (the object was just replaced or deleted). */
export async function openObjectBody(v: ObjectVersion, idleMs = IDLE_BODY_MS): Promise<ObjectBody | 'gone'> {
  const { size, sha256 } = v.record;
  if (size <= WHOLE_READ_MAX) {
    let buf: Buffer;
    try {
      buf = await readFile(v.blobPath);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 'gone';
      throw err;
    }
    if (buf.length !== size) throw changedOnDisk(v, `are ${buf.length} bytes, not the ${size} recorded`);
    if (createHash('sha256').update(buf).digest('hex') !== sha256) throw changedOnDisk(v, 'do not match their recorded SHA-256');
    return withSdkHelpers(Readable.from(buf.length ? [buf] : [], { objectMode: false }));
  }
  let handle;
  try {
    handle = await open(v.blobPath, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'gone';
    throw err;
  }
  const actual = (await handle.stat()).size;
  if (actual !== size) {
    await handle.close();
    throw changedOnDisk(v, `are ${actual} bytes, not the ${size} recorded`);
  }
  const file = handle.createReadStream({ highWaterMark: 256 * 1024 });
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      done(hash.digest('hex') === sha256 ? null : changedOnDisk(v, 'do not match their recorded SHA-256'));
    },
  });
  // Destroying the body (or an error either side) closes the file.
  pipeline(file, check, () => undefined);
  const idle = setTimeout(() => {
    if (!check.readableDidRead && !check.destroyed) check.destroy();
  }, idleMs);
  idle.unref();
  check.once('close', () => clearTimeout(idle));
  return withSdkHelpers(check);
}
