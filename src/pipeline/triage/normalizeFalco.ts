import { z } from 'zod';
import { isJsWhitespace } from './fieldTypes.js';
import { falcoLogLine } from './falcoLogLine.js';
import { parseFalcoPriority, type FalcoPriority } from './falcoPriority.js';

/** One Falco alert, whichever way it arrived, before classification. */
export interface FalcoAlert {
  shape: 'falco-json' | 'falco-text' | 'fluentbit-text' | 'fluentbit-json';
  /** The Falco rule name, when the event carries it (JSON output). */
  ruleName?: string;
  priority: FalcoPriority;
  /** Output text without the `<time>: <Priority> ` prefix. */
  body: string;
  /** First token of `body`: the tag a rule writes first (e.g. ARTIFACT_EXEC). */
  tag: string;
  /** `body` after the tag and one space. */
  afterTag: string;
  outputFields: Record<string, unknown>;
  /** Whether the event carried `output_fields` with anything in it (JSON output); text lines do not. */
  hasOutputFields: boolean;
  tags: string[];
  /** Falco's event source (`syscall`, `k8s_audit`, `internal` for Falcosidekick's test event); text lines have none. */
  source?: string;
  /** The Falco host: `hostname` in JSON output, or Fluent Bit's `kubernetes.host`. */
  host?: string;
  time?: string;
  uuid?: string;
}

/** `skipped`: not an alert but one of Falco's own log lines (start-up, statistics). */
export type NormalizeResult = { ok: true; alert: FalcoAlert } | { ok: false; error: string; skipped?: true };

/** The priority words of `<time>: <Priority> `, lower case (`Info` as Falco also writes it). */
const PREFIX_PRIORITIES: ReadonlySet<string> = new Set(['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'info', 'debug']);

interface Prefix {
  /** Its length: where the output proper starts. */
  length: number;
  time: string;
  /** The priority word as written. */
  priority: string;
}

/**
 * Falco's `<time>: <Priority> ` at the start of a line, read as
 * `/^(\S+): (Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug) /i` reads it
 * (without the regular expression: this runs for every event). The time is the first run of
 * non-whitespace and ends with the colon; the priority is an ASCII word matched in any case,
 * followed by a space.
 */
function readPrefix(text: string): Prefix | undefined {
  const n = text.length;
  let w = 0;
  while (w < n && !isJsWhitespace(text.charCodeAt(w))) w++;
  if (w < 2 || w >= n || text.charCodeAt(w) !== 32 || text.charCodeAt(w - 1) !== 58 /* : */) return undefined;
  const start = w + 1;
  // The longest priority word is 13 letters; the space after it must come within 14.
  let q = start;
  for (; q < n && q - start <= 13; q++) {
    const c = text.charCodeAt(q);
    if (c === 32) break;
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return undefined;
  }
  if (q >= n || text.charCodeAt(q) !== 32 || q === start) return undefined;
  const priority = text.slice(start, q);
  if (!PREFIX_PRIORITIES.has(priority.toLowerCase())) return undefined;
  return { length: q + 1, time: text.slice(0, w - 1), priority };
}

export const falcoJsonSchema = z.object({
  rule: z.string().min(1, 'rule is empty'),
  output: z.string(),
  priority: z.string(),
  output_fields: z.record(z.string(), z.unknown()).nullish(),
  hostname: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  time: z.string().nullish(),
  source: z.string().nullish(),
  uuid: z.string().nullish(),
});
type FalcoJson = z.output<typeof falcoJsonSchema>;

const kubernetesSchema = z.object({ host: z.string().optional() }).loose();
export const fluentBitSchema = z.object({
  falco: z
    .object({
      log: z.unknown().optional(),
      raw_message: z.object({ log: z.unknown().optional() }).loose().optional(),
      kubernetes: kubernetesSchema.optional(),
    })
    .loose(),
  kubernetes: kubernetesSchema.optional(),
});

/** Without a leading byte-order mark and trailing whitespace (line ends among it). */
function cleanLine(s: string): string {
  return (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s).trimEnd();
}

/**
 * The tag (the first run of non-whitespace, after any leading whitespace) and what follows it
 * after one whitespace character and then one space at most. The tag is empty only when the
 * body is all whitespace.
 */
function splitBody(body: string): { tag: string; afterTag: string } {
  const n = body.length;
  let start = 0;
  while (start < n && isJsWhitespace(body.charCodeAt(start))) start++;
  let end = start;
  while (end < n && !isJsWhitespace(body.charCodeAt(end))) end++;
  if (end >= n - 1) return { tag: body.slice(start, end), afterTag: '' };
  return { tag: body.slice(start, end), afterTag: body.slice(body.charCodeAt(end + 1) === 32 ? end + 2 : end + 1) };
}

/** Whether an object has any own enumerable key (without listing them). */
function hasAnyKey(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Falcosidekick fills an empty source with `syscalls`; Falco itself says `syscall`. */
function sourceOf(s: string | null | undefined): string | undefined {
  if (!s) return undefined;
  return s === 'syscalls' ? 'syscall' : s;
}

function fromFalcoJson(j: FalcoJson, shape: FalcoAlert['shape'], host?: string): NormalizeResult {
  const output = cleanLine(j.output);
  const prefix = readPrefix(output);
  const priority = parseFalcoPriority(j.priority) ?? (prefix ? parseFalcoPriority(prefix.priority) : undefined);
  if (!priority) return { ok: false, error: `unknown Falco priority "${j.priority.slice(0, 40)}"` };
  const body = prefix ? output.slice(prefix.length) : output;
  const { tag, afterTag } = splitBody(body);
  const outputFields = j.output_fields ?? {};
  // Built in key order without spreads (this runs for every event).
  const alert: FalcoAlert = { shape, ruleName: j.rule, priority, body, tag, afterTag, outputFields, hasOutputFields: hasAnyKey(outputFields), tags: j.tags ?? [] };
  const source = sourceOf(j.source);
  if (source) alert.source = source;
  if (j.hostname) alert.host = j.hostname;
  else if (host) alert.host = host;
  if (j.time) alert.time = j.time;
  if (j.uuid) alert.uuid = j.uuid;
  return { ok: true, alert };
}

function fromTextLine(line: string, host: string | undefined, shape: 'fluentbit-text' | 'falco-text' = 'fluentbit-text'): NormalizeResult {
  const text = cleanLine(line);
  const prefix = readPrefix(text);
  if (!prefix) {
    const note = falcoLogLine(text);
    if (note) return { ok: false, error: note, skipped: true };
    return { ok: false, error: 'Falco log line does not start with "<time>: <Priority> "' };
  }
  const body = text.slice(prefix.length);
  const { tag, afterTag } = splitBody(body);
  if (!tag) return { ok: false, error: 'Falco log line has no output after the priority' };
  const alert: FalcoAlert = { shape, priority: parseFalcoPriority(prefix.priority)!, body, tag, afterTag, outputFields: {}, hasOutputFields: false, tags: [] };
  if (host) alert.host = host;
  alert.time = prefix.time;
  return { ok: true, alert };
}

function fromLog(log: unknown, host: string | undefined): NormalizeResult {
  if (log && typeof log === 'object' && !Array.isArray(log) && isWellFormedFalcoJson(log as Record<string, unknown>)) {
    return fromFalcoJson(log as FalcoJson, 'fluentbit-json', host);
  }
  if (typeof log === 'string') {
    // Only a log that starts with whitespace needs trimming to see whether it is JSON.
    const first = log.charCodeAt(0);
    if (first === 123 /* { */ || (isJsWhitespace(first) && log.trim().startsWith('{'))) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(log.trim());
      } catch {
        return { ok: false, error: 'Fluent Bit log looks like JSON but does not parse' };
      }
      return fromLog(parsed, host);
    }
    return fromTextLine(log, host);
  }
  if (log && typeof log === 'object') {
    const j = falcoJsonSchema.safeParse(log);
    if (!j.success) return { ok: false, error: `Fluent Bit log is not Falco JSON output: ${issuesText(j.error)}` };
    return fromFalcoJson(j.data, 'fluentbit-json', host);
  }
  return { ok: false, error: 'Fluent Bit record has no usable log (expected falco.log or falco.raw_message.log as a string)' };
}

/** True when the value has the shape of Falco JSON output (even a broken one). */
export function looksLikeFalcoJson(v: Record<string, unknown>): boolean {
  return 'rule' in v && 'output' in v;
}

export function looksLikeFluentBit(v: Record<string, unknown>): boolean {
  return typeof v.falco === 'object' && v.falco !== null;
}

/**
 * A plain Fluent Bit record of Falco's container log: `log` (the line, or Falco's JSON output as
 * a string or object) and `kubernetes` (the Falco pod) at the top level.
 */
export function looksLikePlainFluentBit(v: Record<string, unknown>): boolean {
  return 'log' in v && !looksLikeFluentBit(v) && !looksLikeFalcoJson(v);
}

const optString = (x: unknown) => x === undefined || x === null || typeof x === 'string';
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const optHost = (k: unknown) => k === undefined || (isObject(k) && (k.host === undefined || typeof k.host === 'string'));

/**
 * Fast structural checks for the common, well-formed shapes. Each accepts only
 * what its zod schema accepts (a property test holds them to that); anything
 * else goes through the schema, which also words the error.
 */
export function isWellFormedFalcoJson(v: Record<string, unknown>): boolean {
  return (
    typeof v.rule === 'string' &&
    v.rule.length > 0 &&
    typeof v.output === 'string' &&
    typeof v.priority === 'string' &&
    (v.output_fields === undefined || v.output_fields === null || isObject(v.output_fields)) &&
    optString(v.hostname) &&
    optString(v.time) &&
    optString(v.source) &&
    optString(v.uuid) &&
    (v.tags === undefined || v.tags === null || (Array.isArray(v.tags) && v.tags.every((t) => typeof t === 'string')))
  );
}

export function isWellFormedFluentBit(v: Record<string, unknown>): boolean {
  const f = v.falco;
  return isObject(f) && optHost(f.kubernetes) && optHost(v.kubernetes) && (f.raw_message === undefined || isObject(f.raw_message));
}

/** One line of Falco's text output (`kubectl logs ds/falco`), or one of its log lines (skipped). */
export function normalizeFalcoLine(line: string): NormalizeResult {
  return fromTextLine(line, undefined, 'falco-text');
}

/** Normalizes Falco JSON output (direct or via Falcosidekick) or a Fluent Bit record (wrapped in `falco`, or plain). */
export function normalizeFalco(v: Record<string, unknown>): NormalizeResult {
  if (looksLikePlainFluentBit(v)) {
    if (!optHost(v.kubernetes)) return { ok: false, error: 'not a Fluent Bit Falco record: kubernetes: expected an object with a string host' };
    return fromLog(v.log, (v.kubernetes as { host?: string } | undefined)?.host || undefined);
  }
  if (looksLikeFluentBit(v) && isWellFormedFluentBit(v)) {
    const falco = v.falco as Record<string, unknown>;
    const host = ((falco.kubernetes as { host?: string } | undefined)?.host ?? (v.kubernetes as { host?: string } | undefined)?.host) || undefined;
    if (looksLikeFalcoJson(falco)) {
      if (isWellFormedFalcoJson(falco)) return fromFalcoJson(falco as FalcoJson, 'fluentbit-json', host);
    } else {
      return fromLog(falco.log ?? (falco.raw_message as { log?: unknown } | undefined)?.log, host);
    }
  }
  if (!looksLikeFluentBit(v) && isWellFormedFalcoJson(v)) return fromFalcoJson(v as FalcoJson, 'falco-json');
  if (looksLikeFluentBit(v)) {
    const fb = fluentBitSchema.safeParse(v);
    if (!fb.success) return { ok: false, error: `not a Fluent Bit Falco record: ${issuesText(fb.error)}` };
    const falco = fb.data.falco;
    const host = falco.kubernetes?.host ?? fb.data.kubernetes?.host;
    if (looksLikeFalcoJson(falco)) {
      const j = falcoJsonSchema.safeParse(falco);
      if (!j.success) return { ok: false, error: `Falco JSON output is invalid: ${issuesText(j.error)}` };
      return fromFalcoJson(j.data, 'fluentbit-json', host);
    }
    const log = falco.log ?? falco.raw_message?.log;
    return fromLog(log, host);
  }
  const j = falcoJsonSchema.safeParse(v);
  if (!j.success) return { ok: false, error: `Falco JSON output is invalid: ${issuesText(j.error)}` };
  return fromFalcoJson(j.data, 'falco-json');
}
