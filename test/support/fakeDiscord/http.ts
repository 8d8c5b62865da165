/** Minimal REST plumbing: route table, body parsing (JSON and multipart), Discord-like responses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';
import { bucketHash } from './faults.js';
import type { RecordedFile } from './types.js';

export interface RouteContext {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  files: RecordedFile[];
  headers: Record<string, string>;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (ctx: RouteContext) => RouteResult | Promise<RouteResult>;

/** `bot`: needs `Authorization: Bot <token>`; `none`: authenticated by the token in the URL. */
export type AuthMode = 'bot' | 'none';

export interface Route {
  method: string;
  template: string;
  auth: AuthMode;
  handler: Handler;
  segments: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method'; template: string }
  | { kind: 'none' };

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, template: string, handler: Handler, auth: AuthMode = 'bot'): void {
    this.routes.push({ method: method.toUpperCase(), template, auth, handler, segments: template.split('/') });
  }

  /** `path` is the raw (percent-encoded) path; segments are decoded one by one. */
  match(method: string, path: string): RouteMatch {
    const segments = path.split('/').map(decodeSegment);
    let methodMismatch: string | undefined;
    // Literal segments win over parameters (`/messages/@original` before `/messages/:id`).
    let best: { route: Route; params: Record<string, string>; score: number } | undefined;
    for (const route of this.routes) {
      if (route.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let score = 0;
      let ok = true;
      for (let i = 0; i < segments.length; i++) {
        const want = route.segments[i] ?? '';
        const got = segments[i] ?? '';
        if (want.startsWith(':')) {
          if (got === '') {
            ok = false;
            break;
          }
          params[want.slice(1)] = got;
        } else if (want === got) {
          score += 1;
        } else {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (route.method !== method) {
        methodMismatch ??= route.template;
        continue;
      }
      if (!best || score > best.score) best = { route, params, score };
    }
    if (best) return { kind: 'found', route: best.route, params: best.params };
    if (methodMismatch) return { kind: 'method', template: methodMismatch };
    return { kind: 'none' };
  }
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A path with each segment percent-decoded (`/messages/%40original` → `/messages/@original`). */
export function decodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => decodeSegment(segment).replaceAll('/', '%2F'))
    .join('/');
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface ParsedBody {
  body: unknown;
  files: RecordedFile[];
}

/** JSON bodies, and multipart bodies with `payload_json` (or plain fields) plus `files[n]` parts. */
export async function parseBody(raw: Buffer, contentType: string | undefined): Promise<ParsedBody> {
  if (raw.length === 0) return { body: undefined, files: [] };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      form = await new Response(raw, { headers: { 'content-type': contentType ?? '' } }).formData();
    } catch {
      throw new ApiError(400, { message: '400: Bad Request', code: 0 });
    }
    const files: RecordedFile[] = [];
    let body: Record<string, unknown> | undefined;
    const fields: Record<string, unknown> = {};
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') {
          body = parseJson(value) as Record<string, unknown>;
        } else {
          fields[field] = value;
        }
      } else {
        const data = Buffer.from(await value.arrayBuffer());
        files.push({
          field,
          filename: value.name,
          contentType: value.type || 'application/octet-stream',
          size: data.length,
          data,
        });
      }
    }
    return { body: body ?? (Object.keys(fields).length ? fields : undefined), files };
  }
  // Discord parses anything else as JSON too (and rejects what is not).
  return { body: parseJson(raw.toString('utf8')), files: [] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, { message: 'The request body contains invalid JSON.', code: 50109 });
  }
}

/** Plausible per-route rate-limit headers with requests to spare, so @discordjs/rest never waits. */
export function rateLimitHeaders(method: string, route: string): Record<string, string> {
  const resetAfter = 1;
  return {
    'x-ratelimit-bucket': bucketHash(method, route),
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': '4',
    'x-ratelimit-reset': ((Date.now() + resetAfter * 1000) / 1000).toFixed(3),
    'x-ratelimit-reset-after': resetAfter.toFixed(3),
  };
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const out: Record<string, string> = { ...headers, via: '1.1 google', 'x-fake-discord': '1' };
  if (status === 204 || body === undefined) {
    res.writeHead(status, out);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  out['content-type'] = 'application/json';
  out['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(status, out);
  res.end(text);
}
