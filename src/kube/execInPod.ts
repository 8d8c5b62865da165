import type { Readable, Writable } from 'node:stream';
import { Writable as WritableStream } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { V1Status } from '@kubernetes/client-node';
import { KubernetesError, NotFoundError } from '../errors.js';
import type { KubeClients } from './clients.js';

export interface ExecTarget {
  namespace: string;
  pod: string;
  container?: string;
}

export interface ExecResult {
  exitCode: number;
  /** The first 64 KiB of stderr. */
  stderr: string;
  /** stdout, when no sink was given (first 1 MiB). */
  stdout: string;
}

const STDERR_MAX = 64 * 1024;
const STDOUT_MAX = 1024 * 1024;

/** The parts of the `ws` WebSocket that client-node's `Exec` resolves with. */
interface ExecSocket {
  close(): void;
  pause?(): void;
  resume?(): void;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

function exitCodeOf(status: V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : 1;
}

function capture(limit: number): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    stream: new WritableStream({
      write(chunk: Buffer, _enc, cb) {
        if (size < limit) {
          const part = chunk.subarray(0, limit - size);
          chunks.push(part);
          size += part.length;
        }
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

/**
 * The HTTP status of a refused exec upgrade. client-node rejects with the `ws`
 * ErrorEvent (`Unexpected server response: 404`), which carries no status code.
 */
function upgradeStatus(e: unknown): number | undefined {
  const any = e as { statusCode?: unknown; code?: unknown; message?: unknown; error?: { message?: unknown } };
  for (const c of [any?.statusCode, any?.code]) if (typeof c === 'number') return c;
  const text = [any?.message, any?.error?.message].find((m): m is string => typeof m === 'string') ?? '';
  const m = /Unexpected server response: (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The underlying Error of a rejection (not the ErrorEvent, which drags the whole socket into logs). */
function innerError(e: unknown): unknown {
  const inner = (e as { error?: unknown })?.error;
  return inner instanceof Error ? inner : e;
}

function messageOf(e: unknown): string {
  const m = (e as { message?: unknown })?.message;
  return typeof m === 'string' && m !== '' ? m : String(e);
}

/**
 * Waits until a stream client-node has ended has also flushed (a sink may
 * still be writing), and fails if it failed: a sink that errored may not have
 * emitted 'error' yet (its destroy can be asynchronous).
 */
async function flushed(stream: Writable): Promise<void> {
  if (stream.errored) throw stream.errored;
  if (stream.writableFinished) return;
  if (stream.writableEnded || stream.destroyed) await finished(stream);
}

/**
 * Runs one argv in a pod's container (never through a shell) and resolves when
 * it has exited. stdout goes to `sink` when given (streamed, with backpressure;
 * resolved only once the sink has finished), else is captured. A non-zero exit
 * is a result, not an error; an unreachable pod is an error, and so is a sink
 * that fails (e.g. a size limit): the exec is then abandoned and the sink's
 * error rejects.
 */
export async function execInPod(
  kube: KubeClients,
  target: ExecTarget,
  argv: readonly string[],
  options: { sink?: Writable; stdin?: Readable; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const out = options.sink ? undefined : capture(STDOUT_MAX);
  const err = capture(STDERR_MAX);
  const stdout = options.sink ?? out!.stream;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const where = `${target.namespace}/${target.pod}`;
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let statusSeen = false;
    let socket: ExecSocket | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const abandon = (error: unknown) => {
      finish(() => {
        socket?.close();
        reject(error);
      });
    };
    const timer = setTimeout(
      () => abandon(new KubernetesError(`exec in ${where} timed out after ${timeoutMs} ms`, { code: 'ExecTimeout' })),
      timeoutMs,
    );
    // A failing sink must not crash the process (client-node keeps writing to it): abandon the exec instead.
    stdout.on('error', (e: unknown) => abandon(e));
    err.stream.on('error', (e: unknown) => abandon(e));

    kube.exec
      .exec(target.namespace, target.pod, target.container ?? '', [...argv], stdout, err.stream, options.stdin ?? null, false, (status) => {
        statusSeen = true;
        // client-node has ended stdout and stderr: resolve once they have flushed what arrived before the status.
        Promise.all([flushed(stdout), flushed(err.stream)]).then(
          () => finish(() => resolve({ exitCode: exitCodeOf(status), stderr: err.text(), stdout: out?.text() ?? '' })),
          (e: unknown) => abandon(e),
        );
      })
      .then((ws) => {
        socket = ws as unknown as ExecSocket;
        if (settled) {
          socket.close();
          return;
        }
        // client-node writes every frame to the sink and ignores backpressure: pause the socket until the sink drains.
        if (options.sink && socket.pause && socket.resume) {
          const sink = options.sink;
          const s = socket;
          let paused = false;
          socket.on?.('message', () => {
            if (paused || !sink.writableNeedDrain || sink.destroyed) return;
            paused = true;
            s.pause!();
            const go = () => {
              sink.off('drain', go);
              sink.off('close', go);
              paused = false;
              s.resume!();
            };
            sink.on('drain', go);
            sink.on('close', go);
          });
        }
        socket.on?.('close', () => {
          if (statusSeen) return;
          setTimeout(() => abandon(new KubernetesError(`exec in ${where} ended without an exit status`, { code: 'ExecNoStatus' })), 50);
        });
      })
      .catch((e: unknown) => {
        const status = upgradeStatus(e);
        const cause = innerError(e);
        abandon(
          status === 404
            ? new NotFoundError(`pod ${where} not found`, { cause, code: 'PodNotFound' })
            : new KubernetesError(`cannot exec in ${where}: ${messageOf(e)}`, { cause, ...(status !== undefined ? { details: { statusCode: status } } : {}) }),
        );
      });
  });
}
