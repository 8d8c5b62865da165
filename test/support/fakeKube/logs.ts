/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a container's log as the kubelet serves it
 * through the API server, as plain text. Query: `container`, `previous`, `sinceSeconds` /
 * `sinceTime`, `tailLines`, `limitBytes`, `timestamps` (`follow` is served as a snapshot).
 * Filters apply in the kubelet's order: since, then the last `tailLines`, then `limitBytes`.
 */
import { badRequest, invalid } from './status.js';
import type { Store, PodEntry, LogLine } from './store.js';

export interface LogResponse {
  status: 200;
  body: Buffer;
  contentType: 'text/plain';
}

function flag(query: URLSearchParams, name: string): boolean {
  return query.get(name) === 'true' || query.get(name) === '1';
}

function integer(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
  return Number(raw);
}

/** RFC 3339 with nanoseconds, trailing zeros dropped, as Go's time.RFC3339Nano prints it. */
export function rfc3339Nano(time: Date): string {
  const iso = time.toISOString();
  const [whole, frac] = iso.slice(0, -1).split('.') as [string, string];
  const digits = `${frac}000000`.replace(/0+$/, '');
  return digits === '' ? `${whole}Z` : `${whole}.${digits}Z`;
}

function containerNames(entry: PodEntry): { regular: string[]; ephemeral: string[] } {
  const ephemeral = ((entry.object.spec?.['ephemeralContainers'] ?? []) as { name: string }[]).map((c) => c.name);
  return { regular: entry.containers, ephemeral };
}

function waitingReason(entry: PodEntry, container: string): string | undefined {
  const status = entry.object.status ?? {};
  const all = [...((status['containerStatuses'] ?? []) as Record<string, unknown>[]), ...((status['ephemeralContainerStatuses'] ?? []) as Record<string, unknown>[])];
  const s = all.find((c) => c['name'] === container);
  const waiting = (s?.['state'] as { waiting?: { reason?: string } } | undefined)?.waiting;
  return waiting ? (waiting.reason ?? 'ContainerCreating') : undefined;
}

export function servePodLog(store: Store, entry: PodEntry, query: URLSearchParams): LogResponse {
  const podName = entry.object.metadata.name;
  const tailLines = integer(query, 'tailLines');
  const limitBytes = integer(query, 'limitBytes');
  const sinceSeconds = integer(query, 'sinceSeconds');
  const sinceTime = query.get('sinceTime') ?? undefined;
  const errors: { field: string; message: string }[] = [];
  if (tailLines !== undefined && tailLines < 0) errors.push({ field: 'tailLines', message: `Invalid value: ${tailLines}: must be greater than or equal to 0` });
  if (limitBytes !== undefined && limitBytes < 1) errors.push({ field: 'limitBytes', message: `Invalid value: ${limitBytes}: must be greater than 0` });
  if (sinceSeconds !== undefined && sinceSeconds < 1) errors.push({ field: 'sinceSeconds', message: `Invalid value: ${sinceSeconds}: must be greater than 0` });
  if (sinceSeconds !== undefined && sinceTime !== undefined) errors.push({ field: '', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified' });
  if (sinceTime !== undefined && Number.isNaN(Date.parse(sinceTime))) throw badRequest(`parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  if (errors.length > 0) throw invalid('PodLogOptions', podName, errors.map((e) => ({ ...e, field: e.field || 'sinceSeconds' })));

  const { regular, ephemeral } = containerNames(entry);
  let container = query.get('container') ?? '';
  if (container === '') {
    if (regular.length !== 1) throw badRequest(`a container name must be specified for pod ${podName}, choose one of: [${regular.join(' ')}]`);
    container = regular[0]!;
  }
  if (!regular.includes(container) && !ephemeral.includes(container)) throw badRequest(`container ${container} is not valid for pod ${podName}`);

  const previous = flag(query, 'previous');
  const log = entry.logs.get(container) ?? { current: [], previous: undefined };
  let lines: LogLine[];
  if (previous) {
    if (log.previous === undefined) throw badRequest(`previous terminated container "${container}" in pod "${podName}" not found`);
    lines = log.previous;
  } else {
    // A waiting container (e.g. CrashLoopBackOff) serves its last terminated instance's log, as the kubelet does.
    const waiting = waitingReason(entry, container);
    if (waiting !== undefined && log.previous === undefined) throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${waiting}`);
    lines = waiting !== undefined ? log.previous! : log.current;
  }

  const from = sinceSeconds !== undefined ? store.now().getTime() - sinceSeconds * 1000 : sinceTime !== undefined ? Date.parse(sinceTime) : undefined;
  if (from !== undefined) lines = lines.filter((l) => l.time.getTime() >= from);
  if (tailLines !== undefined) lines = tailLines === 0 ? [] : lines.slice(-tailLines);
  const timestamps = flag(query, 'timestamps');
  let body = Buffer.concat(lines.flatMap((l) => [timestamps ? Buffer.from(`${rfc3339Nano(l.time)} `) : Buffer.alloc(0), l.text, Buffer.from('\n')]));
  if (limitBytes !== undefined && body.length > limitBytes) body = body.subarray(0, limitBytes);
  return { status: 200, body, contentType: 'text/plain' };
}
