import { Writable, type Readable } from 'node:stream';
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
    stream: new Writable({
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
 * Runs one argv in a pod's container (never through a shell) and resolves when
 * it has exited. stdout goes to `sink` when given (streamed), else is captured.
 * A non-zero exit is a result, not an error; an unreachable pod is an error.
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
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let socket: { close(): void } | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      socket?.close();
      finish(() => reject(new KubernetesError(`exec in ${target.namespace}/${target.pod} timed out after ${timeoutMs} ms`, { code: 'ExecTimeout' })));
    }, timeoutMs);
    kube.exec
      .exec(target.namespace, target.pod, target.container ?? '', [...argv], stdout, err.stream, options.stdin ?? null, false, (status) => {
        // Let the streams drain what arrived before the status.
        setImmediate(() => finish(() => resolve({ exitCode: exitCodeOf(status), stderr: err.text(), stdout: out?.text() ?? '' })));
      })
      .then((ws) => {
        socket = ws as unknown as { close(): void };
        (ws as unknown as NodeJS.EventEmitter).on?.('close', () => {
          setTimeout(() => finish(() => reject(new KubernetesError(`exec in ${target.namespace}/${target.pod} ended without an exit status`, { code: 'ExecNoStatus' }))), 50);
        });
      })
      .catch((e: unknown) => {
        const status = (e as { statusCode?: number; code?: number }).statusCode ?? (e as { code?: number }).code;
        finish(() =>
          reject(
            status === 404
              ? new NotFoundError(`pod ${target.namespace}/${target.pod} not found`, { cause: e, code: 'PodNotFound' })
              : new KubernetesError(`cannot exec in ${target.namespace}/${target.pod}: ${(e as Error)?.message ?? String(e)}`, { cause: e }),
          ),
        );
      });
  });
}

