/**
 * Test-side helper that runs a command through the REAL client-node `Exec` and collects
 * the result. Useful for asserting on the fake itself; production code has its own wrapper.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  status: V1Status;
  /** 0 on Success, else the ExitCode cause of the Failure status (NaN when absent). */
  exitCode: number;
}

/** Exit code from an exec status, as kubectl derives it. */
export function exitCodeOf(status: V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause?.message !== undefined ? Number(cause.message) : Number.NaN;
}

interface ExecOptions {
  stdin?: string | Buffer | Readable;
  /** Send stdout somewhere else instead of collecting it (e.g. a hash), to keep large transfers out of memory. */
  stdout?: Writable;
}

export async function execIn(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  argv: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (opts.stdout) stdout.pipe(opts.stdout);
  else stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const stdin =
    opts.stdin === undefined ? null : opts.stdin instanceof Readable ? opts.stdin : Readable.from([Buffer.from(opts.stdin)]);

  let resolveStatus!: (s: V1Status) => void;
  const statusP = new Promise<V1Status>((r) => (resolveStatus = r));
  const ws = await new Exec(kc).exec(namespace, pod, container, argv, stdout, stderr, stdin, false, (s) => resolveStatus(s));
  const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve()));
  const status = await Promise.race([
    statusP,
    closed.then(() => Promise.race([statusP, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('exec socket closed without a status')), 50))])),
  ]);
  await Promise.all([finished(stdout), finished(stderr)]);
  if (opts.stdout) await finished(opts.stdout).catch(() => {});
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), status, exitCode: exitCodeOf(status) };
}

/** A Writable computing the sha256 of what goes through it; `digest()` after it finished. */
export function sha256Sink(): Writable & { digest(): string; bytes(): number } {
  const hash = createHash('sha256');
  let n = 0;
  let hex: string | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      hash.update(chunk);
      cb();
    },
    final(cb) {
      hex = hash.digest('hex');
      cb();
    },
  });
  return Object.assign(sink, {
    digest: () => {
      if (hex === undefined) throw new Error('sha256Sink not finished');
      return hex;
    },
    bytes: () => n,
  });
}
