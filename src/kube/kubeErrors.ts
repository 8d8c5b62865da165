import { KubernetesError, NotFoundError, type SentinelError } from '../errors.js';

/** The HTTP status of a client-node ApiException (or similar), if any. */
export function kubeStatusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The Status body of a client-node ApiException (a JSON string or an object), when there is one. */
export function kubeStatusBody(err: unknown): { message?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } } | undefined {
  const body = typeof err === 'object' && err !== null ? (err as { body?: unknown }).body : undefined;
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null ? (parsed as ReturnType<typeof kubeStatusBody>) : undefined;
    } catch {
      return undefined;
    }
  }
  return body && typeof body === 'object' ? (body as ReturnType<typeof kubeStatusBody>) : undefined;
}

/** The Status message of a client-node ApiException (its body is a JSON string), else the error message. */
export function kubeErrorMessage(err: unknown): string {
  const message = kubeStatusBody(err)?.message;
  if (typeof message === 'string') return message;
  return err instanceof Error ? err.message : String(err);
}

/** Maps a failed Kubernetes call: 404 → NotFoundError, anything else → KubernetesError, both with the cause. */
export function toKubeError(err: unknown, what: string): SentinelError {
  const code = kubeStatusCode(err);
  if (code === 404) return new NotFoundError(`${what}: not found`, { cause: err, code: 'NotFound' });
  return new KubernetesError(`${what} failed${code ? ` (HTTP ${code})` : ''}: ${kubeErrorMessage(err)}`, { cause: err, ...(code ? { details: { status: code } } : {}) });
}

/** Runs a Kubernetes call; a failure becomes a sentinel error naming `what`. */
export async function kubeCall<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toKubeError(err, what);
  }
}

/** Runs a read; 404 resolves to undefined, any other failure becomes a sentinel error naming `what`. */
export async function readOptional<T>(call: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (kubeStatusCode(err) === 404) return undefined;
    throw toKubeError(err, what);
  }
}
