/**
 * Writes a PutObject body to a new file, streamed (a Readable is never buffered whole), hashing
 * it (MD5 for the ETag, SHA-256 for the record and ChecksumSHA256) and counting it on the way,
 * then fsyncs it. The file is created exclusively with mode 0600 and removed again if anything
 * fails, so a failed upload leaves nothing.
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { makeS3Error } from './makeS3Error.js';

export interface WrittenBlob {
  size: number;
  md5: string;
  /** Lower-case hex. */
  sha256: string;
}

/** The body types PutObject takes in Node: string, Buffer/Uint8Array, a Readable (or any async iterable of bytes), a web ReadableStream or a Blob; none is empty. */
function chunksOf(body: unknown): AsyncIterable<unknown> | Iterable<unknown> {
  if (body === undefined || body === null) return [];
  if (typeof body === 'string' || body instanceof Uint8Array) return [body];
  if (typeof Blob !== 'undefined' && body instanceof Blob) return Readable.fromWeb(body.stream() as never);
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return Readable.fromWeb(body as never);
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return body as AsyncIterable<unknown>;
  throw makeS3Error('InvalidArgument', `the local object store cannot read a PutObject body of type ${Object.prototype.toString.call(body)}`);
}

function asBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw makeS3Error('InvalidArgument', `a PutObject body yielded a chunk of type ${Object.prototype.toString.call(chunk)}, not bytes`);
}

/** Streams `body` into `path` (which must not exist). `contentLength`, when given, must be the exact size. */
export async function writeObjectBlob(path: string, body: unknown, contentLength?: number): Promise<WrittenBlob> {
  const chunks = chunksOf(body);
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let size = 0;
  const handle = await open(path, 'wx', 0o600);
  try {
    for await (const raw of chunks) {
      const chunk = asBuffer(raw);
      if (chunk.length === 0) continue;
      size += chunk.length;
      if (contentLength !== undefined && size > contentLength) {
        throw makeS3Error('IncompleteBody', `the body is longer than its ContentLength of ${contentLength} bytes`);
      }
      md5.update(chunk);
      sha256.update(chunk);
      for (let at = 0; at < chunk.length; ) {
        const { bytesWritten } = await handle.write(chunk, at, chunk.length - at);
        at += bytesWritten;
      }
    }
    if (contentLength !== undefined && size !== contentLength) {
      throw makeS3Error('IncompleteBody', `You did not provide the number of bytes specified by the Content-Length HTTP header: ${size} of ${contentLength}`);
    }
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
  await handle.close();
  return { size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}
