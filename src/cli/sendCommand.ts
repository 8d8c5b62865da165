/**
 * `sentinel send [--url URL] [--token TOKEN] FILE...`: posts events from files to a running
 * sentinel's webhook, one request per event, so a team can replay real alerts. The files are
 * read as `sentinel triage` reads them (Falco JSON, Falcosidekick, GuardDuty, Fluent Bit records;
 * one document, a JSON array, NDJSON, or concatenated documents). One output line per event:
 * the HTTP status, where the event came from, and the backlog id or the webhook's reason.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Config } from '../config.js';
import { UserError, describeError } from '../errors.js';
import { readEvents } from '../pipeline/triage/readEvents.js';
import type { CliContext } from './types.js';

export const SEND_USAGE = 'sentinel send [--url URL] [--token TOKEN] FILE...';

export interface SendOptions {
  url: URL;
  token: string | undefined;
  /** Paths, or `-` for stdin. */
  files: string[];
  /** Tries after a 429 (backlog full); default 5. */
  retriesWhenFull?: number;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
}

// Control characters (ANSI escapes, CR) in file names and reasons must not reach a terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
function printable(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The webhook URL: --url (a bare origin gets /events), else the local webhook from the settings. */
export function resolveWebhookUrl(given: string | undefined, config: Config): URL {
  if (given !== undefined) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      throw new UserError(`--url ${JSON.stringify(given)}: not a URL (e.g. http://127.0.0.1:8081/events)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`--url: expected an http or https URL, not ${url.protocol}`);
    if (url.username || url.password) throw new UserError('--url: credentials do not belong in the URL; use --token or SENTINEL_WEBHOOK_TOKEN');
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/events';
    return url;
  }
  const { host, port } = config.bot.webhook;
  const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return new URL(`http://${local}:${port}/events`);
}

interface Posted {
  status: number;
  detail: string;
  retryAfterSeconds: number | undefined;
}

async function post(url: URL, token: string | undefined, body: string, timeoutMs: number): Promise<Posted> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'x-sentinel-token': token } : {}) },
    body,
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text().catch(() => '');
  let detail = res.statusText;
  try {
    const json = JSON.parse(text) as { id?: unknown; error?: unknown };
    if (res.status === 202 && typeof json.id === 'string') detail = `accepted ${json.id}`;
    else if (typeof json.error === 'string') detail = json.error;
  } catch {
    if (text) detail = text;
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  return { status: res.status, detail: detail.slice(0, 300), retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined };
}

function unreachable(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if ((err as Error).name === 'TimeoutError') return 'no answer in time';
  return cause?.code ?? cause?.message ?? describeError(err);
}

/** Posts every event of every file; resolves to the exit status (0 all accepted, 1 otherwise). */
export async function sendEvents(options: SendOptions, ctx: CliContext): Promise<number> {
  const retries = options.retriesWhenFull ?? 5;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const write = (line: string) => ctx.stdout.write(`${printable(line)}\n`);
  let failed = false;
  let down: string | undefined;

  const sendOne = async (value: unknown, where: string) => {
    if (down) {
      failed = true;
      write(`error ${where} not sent: the webhook could not be reached (${down})`);
      return;
    }
    const body = JSON.stringify(value);
    for (let attempt = 0; ; attempt++) {
      let posted: Posted;
      try {
        posted = await post(options.url, options.token, body, timeoutMs);
      } catch (err) {
        failed = true;
        down = unreachable(err);
        write(`error ${where} cannot reach ${options.url.origin}${options.url.pathname}: ${down}`);
        return;
      }
      if (posted.status === 429 && attempt < retries) {
        const waitS = Math.min(30, Math.max(1, posted.retryAfterSeconds ?? 1));
        ctx.logger.warn('the webhook backlog is full; retrying', { event: where, retryInSeconds: waitS, attempt: attempt + 1 });
        await new Promise((resolve) => setTimeout(resolve, waitS * 1000));
        continue;
      }
      if (posted.status !== 202) failed = true;
      write(`${posted.status} ${where} ${posted.detail}`);
      return;
    }
  };

  const sendFrom = async (input: Readable, name: string) => {
    for await (const item of readEvents(input)) {
      const where = `${name}:${item.line}`;
      if ('error' in item) {
        failed = true;
        write(`error ${where} ${item.error}`);
        continue;
      }
      await sendOne(item.value, where);
    }
  };

  for (const file of options.files) {
    if (file === '-') {
      await sendFrom(ctx.stdin, '(stdin)');
      continue;
    }
    try {
      await sendFrom(createReadStream(file, { encoding: 'utf8' }), file);
    } catch (err) {
      failed = true;
      write(`error ${file} cannot read: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`);
    }
  }
  return failed ? 1 : 0;
}

/** The options of `sentinel send` as given; checked here (usage errors are UserErrors). */
export interface SendCommandOptions {
  url?: string;
  token?: string;
  files: string[];
}

/** `sentinel send`: checks the options, resolves the webhook URL and token, and sends. */
export async function runSendCommand(options: SendCommandOptions, ctx: CliContext): Promise<number> {
  if (options.files.length === 0) throw new UserError(`no FILE given (use - for stdin)\nusage: ${SEND_USAGE}`);
  if (options.token !== undefined && !/^[\x21-\x7e]{1,512}$/.test(options.token)) throw new UserError('--token: expected 1 to 512 printable characters without spaces');
  const url = resolveWebhookUrl(options.url, ctx.config);
  const token = options.token ?? ctx.config.bot.webhook.token;
  return sendEvents({ url, token, files: options.files }, ctx);
}
