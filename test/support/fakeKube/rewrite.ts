/** Streaming rewrite of the pod-root host prefix out of program output (`<root>/var/x` → `/var/x`). */
import { Transform, type TransformCallback } from 'node:stream';

const SLASH = Buffer.from('/');

export class PrefixRewriter extends Transform {
  private readonly prefix: Buffer;
  private pending: Buffer = Buffer.alloc(0);

  constructor(prefix: string) {
    super();
    this.prefix = Buffer.from(prefix);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const plen = this.prefix.length;
    const out: Buffer[] = [];
    let start = 0;
    for (;;) {
      const idx = buf.indexOf(this.prefix, start);
      if (idx === -1) break;
      const after = idx + plen;
      // Need one byte of lookahead to know whether the root itself was printed.
      if (after >= buf.length) break;
      out.push(buf.subarray(start, idx));
      if (buf[after] !== 0x2f) out.push(SLASH);
      start = after;
    }
    // Hold back enough bytes to complete a prefix split across chunks.
    const keepFrom = Math.max(start, buf.length - plen);
    out.push(buf.subarray(start, keepFrom));
    this.pending = Buffer.from(buf.subarray(keepFrom));
    const data = out.length === 1 ? out[0]! : Buffer.concat(out);
    if (data.length > 0) this.push(data);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0) this.push(this.pending.equals(this.prefix) ? SLASH : this.pending);
    this.pending = Buffer.alloc(0);
    callback();
  }
}

/** One-shot rewrite for small buffers. */
export function rewritePrefix(data: Buffer, prefix: string): Buffer {
  const p = Buffer.from(prefix);
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const idx = data.indexOf(p, start);
    if (idx === -1) break;
    out.push(data.subarray(start, idx));
    const after = idx + p.length;
    if (after >= data.length || data[after] !== 0x2f) out.push(SLASH);
    start = after;
  }
  out.push(data.subarray(start));
  return Buffer.concat(out);
}
