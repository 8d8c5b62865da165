import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { KubernetesError, NotFoundError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { kubeStatusCode } from './kubeErrors.js';

export interface ContainerLogRequest {
  namespace: string;
  pod: string;
  container: string;
  /** The previous (terminated) instance's log. */
  previous: boolean;
  tailLines?: number | undefined;
  sinceSeconds?: number | undefined;
  /** The API server stops after this many bytes. */
  limitBytes: number;
  timestamps: boolean;
}

/** The API server answered 400 for this log: the container has no such log (not started, no previous instance). */
export class LogUnavailableError extends KubernetesError {}

/**
 * Streams one container log, as raw bytes, into `sink` (client-node's Log: the bytes the kubelet
 * serves, not re-encoded) and resolves once the sink has finished. 404 → NotFoundError; 400 →
 * LogUnavailableError; a stream that stalls past `timeoutMs` is aborted.
 */
export async function readContainerLog(kube: KubeClients, req: ContainerLogRequest, sink: Writable, timeoutMs: number): Promise<void> {
  const what = `the ${req.previous ? 'previous' : 'current'} log of container ${req.container} in pod ${req.namespace}/${req.pod}`;
  let controller: AbortController;
  try {
    controller = await kube.log.log(req.namespace, req.pod, req.container, sink, {
      follow: false,
      previous: req.previous,
      limitBytes: req.limitBytes,
      timestamps: req.timestamps,
      ...(req.tailLines !== undefined ? { tailLines: req.tailLines } : {}),
      ...(req.sinceSeconds !== undefined ? { sinceSeconds: req.sinceSeconds } : {}),
    });
  } catch (err) {
    const code = kubeStatusCode(err);
    if (code === 404) throw new NotFoundError(`reading ${what}: not found`, { cause: err, code: 'NotFound' });
    if (code === 400) throw new LogUnavailableError(`${what} is not available (HTTP 400)`, { cause: err, code: 'LogUnavailable' });
    throw new KubernetesError(`reading ${what} failed${code ? ` (HTTP ${code})` : ''}`, { cause: err, ...(code ? { details: { status: code } } : {}) });
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      finished(sink),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new KubernetesError(`reading ${what} stalled for ${timeoutMs} ms`, { code: 'LogTimeout' }));
        }, timeoutMs);
      }),
    ]);
  } catch (err) {
    controller.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
