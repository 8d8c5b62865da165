import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { parseMessage } from '../../handlers/messages.js';

/** The body of one event (a JSON object), or why the request is refused. `aborted`: the client went away mid-body. */
export type WebhookEventRead =
  | { ok: true; body: string }
  | { ok: false; status: 400 | 413 | 415; reason: string }
  | { ok: false; status: 'aborted'; reason: string };

/** One event per request: a JSON object (an array or a scalar is refused). */
const eventObject = z.looseObject({});

/** `application/json`, with no charset or a UTF-8 one (Falcosidekick sends `application/json; charset=utf-8`). */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((param) => {
    const at = param.indexOf('=');
    if (at < 0 || param.slice(0, at).trim() !== 'charset') return true;
    const charset = param.slice(at + 1).trim().replace(/^"(.*)"$/, '$1');
    return charset === 'utf-8' || charset === 'utf8';
  });
}

/**
 * Reads at most `maxBytes` of the body. Past that it stops reading (the stream is paused, nothing
 * more is kept) and reports the body too large; the caller answers and closes the connection.
 */
function readLimited(req: IncomingMessage, maxBytes: number): Promise<{ ok: true; data: Buffer } | { ok: false; why: 'too-large' | 'aborted' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: { ok: true; data: Buffer } | { ok: false; why: 'too-large' | 'aborted' }) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        chunks.length = 0;
        settle({ ok: false, why: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle({ ok: true, data: Buffer.concat(chunks, size) });
    const onAbort = () => settle({ ok: false, why: 'aborted' });
    const onClose = () => {
      if (!req.complete) settle({ ok: false, why: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads and checks one webhook event: JSON content type (415), no content coding (415), at most
 * `maxBytes` (413, decided from Content-Length before reading when it is declared), UTF-8 (400),
 * JSON (400), one object (400), and readable as an intake message (400: an event, or a message
 * kind sentinel knows, which the handler then refuses on this intake as on the SQS one).
 * Reasons never quote the body.
 */
export async function readWebhookEvent(req: IncomingMessage, maxBytes: number): Promise<WebhookEventRead> {
  if (!isJsonContentType(req.headers['content-type'])) {
    return { ok: false, status: 415, reason: 'Content-Type must be application/json (UTF-8)' };
  }
  const coding = req.headers['content-encoding']?.trim().toLowerCase();
  if (coding && coding !== 'identity') return { ok: false, status: 415, reason: 'Content-Encoding is not accepted: send the JSON uncompressed' };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return { ok: false, status: 413, reason: `the body is ${Number(declared)} bytes; the limit is ${maxBytes} (SENTINEL_WEBHOOK_MAX_BODY_BYTES)` };
  }
  const read = await readLimited(req, maxBytes);
  if (!read.ok) {
    return read.why === 'too-large'
      ? { ok: false, status: 413, reason: `the body is larger than ${maxBytes} bytes (SENTINEL_WEBHOOK_MAX_BODY_BYTES)` }
      : { ok: false, status: 'aborted', reason: 'the client closed the connection before the body ended' };
  }
  if (read.data.length === 0) return { ok: false, status: 400, reason: 'the body is empty' };
  let body: string;
  try {
    body = utf8.decode(read.data);
  } catch {
    return { ok: false, status: 400, reason: 'the body is not UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // JSON.parse's message quotes the body: not repeated here.
    return { ok: false, status: 400, reason: 'the body is not JSON' };
  }
  if (!eventObject.safeParse(json).success) return { ok: false, status: 400, reason: 'the body must be one JSON object: one event per request' };
  const parsed = parseMessage(body);
  if (!parsed.ok) return { ok: false, status: 400, reason: parsed.reason };
  return { ok: true, body };
}
