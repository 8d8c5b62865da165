/** Path and filter matching shared by the call recorder and fault injection. */
import type { CallFilter, FaultMatch, RecordedCall } from './types.js';

/**
 * `path` may be an exact path (`/channels/1/messages`), a template whose `:param` segments match
 * any one segment (`/channels/:id/messages`, also matching the route template itself), or a RegExp.
 */
export function pathMatches(pattern: string | RegExp | undefined, path: string, route: string | null = null): boolean {
  if (pattern === undefined) return true;
  if (pattern instanceof RegExp) return pattern.test(path);
  if (pattern === path || (route !== null && pattern === route)) return true;
  if (!pattern.includes(':') && !pattern.includes('*')) return false;
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((segment, i) => segment.startsWith(':') || segment === '*' || segment === got[i]);
}

export function methodMatches(method: string | undefined, actual: string): boolean {
  return method === undefined || method.toUpperCase() === actual.toUpperCase();
}

export function faultMatches(match: FaultMatch, method: string, path: string, route: string | null): boolean {
  return methodMatches(match.method, method) && pathMatches(match.path, path, route);
}

export function callMatches(filter: CallFilter | undefined, call: RecordedCall): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(call);
  return (
    methodMatches(filter.method, call.method) &&
    pathMatches(filter.path, call.path, call.route) &&
    (filter.status === undefined || filter.status === call.status)
  );
}
