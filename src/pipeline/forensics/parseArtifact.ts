/**
 * Parsers: an artifact's text (what the collectors produce, in the formats artifactKinds.ts
 * lists) → records of named fields for the rules. Pure: no AWS.
 */
import { canonicalIp as canonicalAddress } from '../net/ipAddress.js';
import { checkProtectedDestination } from '../planning/protectedDestination.js';
import { ARTIFACT_FORMATS, type ArtifactKind } from './artifactKinds.js';

// ---------------------------------------------------------------------------------------------
// IP helpers.
// ---------------------------------------------------------------------------------------------

/** An IP in one spelling: IPv4 dotted quad, IPv4-mapped IPv6 as IPv4, IPv6 lower case and compressed. */
export function canonicalIp(value: string): string | undefined {
  // Logs write `[addr]` and `addr%zone`; the address itself goes through sentinel's one IP module.
  return canonicalAddress(value.trim().replace(/^\[|\]$/g, '').replace(/%[A-Za-z0-9_.-]+$/, ''));
}

/** Neither private nor special (AWS's ranges are not the question here). */
export function isPublicIp(value: string): boolean {
  const ip = canonicalIp(value);
  return ip !== undefined && !checkProtectedDestination(ip, { awsRanges: null }).protected;
}

const IPV4_TOKEN = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
const IPV6_TOKEN = /(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])/g;

/** Every IP address written in a line (canonical, deduplicated). */
export function ipsIn(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(IPV4_TOKEN)) {
    const ip = canonicalIp(m[0]);
    if (ip) found.add(ip);
  }
  if (text.includes('::') || /[0-9a-f]{1,4}:[0-9a-f]{1,4}:/i.test(text)) {
    for (const m of text.matchAll(IPV6_TOKEN)) {
      const ip = canonicalIp(m[0]);
      if (ip && ip.includes(':')) found.add(ip);
    }
  }
  return [...found];
}

// ---------------------------------------------------------------------------------------------
// Parsers: artifact text → records.
// ---------------------------------------------------------------------------------------------

export type FieldValue = string | number | readonly string[] | undefined;

export interface ArtifactRecord {
  /** 1-based line number, or event number for JSON artifacts. */
  n: number;
  fields: Readonly<Record<string, FieldValue>>;
  /** What to show as evidence (the raw line, or an event summary). */
  excerpt: string;
}

export interface ParsedArtifact {
  unit: 'line' | 'event';
  records: ArtifactRecord[];
  /** Lines or events that could not be read. */
  problems: string[];
}

export interface ParseOptions {
  /** A time near the collection (ms), to place `ls -l` dates without a year. Now when absent. */
  referenceTimeMs?: number;
}

/** Longest text a regular expression is run on; longer values are cut (ReDoS and memory bound). */
export const MAX_MATCH_CHARS = 16_384;

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** `ls -l` time: `May 21 14:12` (this year, or last year when that would be in the future) or `Mar  2  2024`. UTC. */
function lsTime(month: string, day: string, timeOrYear: string, referenceMs: number): number | undefined {
  const m = MONTHS[month];
  if (m === undefined) return undefined;
  if (/^\d{4}$/.test(timeOrYear)) return Date.UTC(Number(timeOrYear), m, Number(day));
  const [hh, mm] = timeOrYear.split(':').map(Number) as [number, number];
  const year = new Date(referenceMs).getUTCFullYear();
  const t = Date.UTC(year, m, Number(day), hh, mm);
  // ls shows the time (not the year) only for files under six months old.
  return t > referenceMs + 2 * 86_400_000 ? Date.UTC(year - 1, m, Number(day), hh, mm) : t;
}

const LS_LINE = /^([-dlcbps])([rwxsStT-]{9})[.+@]?\s+\d+\s+(\S+)\s+(\S+)\s+(\d+)\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s+(.+)$/;
const LS_TYPE: Readonly<Record<string, string>> = { '-': 'f', d: 'd', l: 'l', c: 'c', b: 'b', p: 'p', s: 's' };

function lsFields(line: string, referenceMs: number): Record<string, FieldValue> | undefined {
  const m = LS_LINE.exec(line);
  if (!m) return undefined;
  const type = LS_TYPE[m[1]!] ?? '?';
  let path = m[9]!;
  let link: string | undefined;
  if (type === 'l') {
    const at = path.indexOf(' -> ');
    if (at >= 0) {
      link = path.slice(at + 4);
      path = path.slice(0, at);
    }
  }
  return { path, size: Number(m[5]), mtimeMs: lsTime(m[6]!, m[7]!, m[8]!, referenceMs), type, link, mode: `${m[1]}${m[2]}` };
}

/** Percent-decoding as a web server would (`+` as space); undecodable sequences stay as they are. */
function urlDecode(line: string): string {
  if (!line.includes('%') && !line.includes('+')) return line;
  const plus = line.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/(?:%[0-9A-Fa-f]{2})+/g, (seq) => {
      try {
        return decodeURIComponent(seq);
      } catch {
        return seq;
      }
    });
  }
}

const SECTION = /^(?:===== (.+?)|==> (.+) <==)$/;
const SYMLINK_SECTION = /^(\S+) -> (.+?) \(symlink, not followed\)$/;

function parseText(text: string, decode: boolean, referenceMs: number): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  let file: string | undefined;
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const cut = line.slice(0, MAX_MATCH_CHARS);
    const section = SECTION.exec(line);
    if (section) {
      const title = (section[1] ?? section[2] ?? '').trim();
      const symlink = SYMLINK_SECTION.exec(title);
      file = symlink ? symlink[1] : title;
      records.push({ n: i + 1, excerpt: line, fields: { line: cut, text: cut, file, ...(symlink ? { path: symlink[1], type: 'l', link: symlink[2] } : {}) } });
      return;
    }
    const decoded = decode ? urlDecode(cut) : cut;
    records.push({ n: i + 1, excerpt: line, fields: { line: cut, text: decoded, ips: ipsIn(decoded), file, ...(lsFields(line, referenceMs) ?? {}) } });
  });
  return { unit: 'line', records, problems: [] };
}

const PS_LSTART = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\s?(.*)$/;

function exeOf(args: string): string {
  return args.trim().split(/\s+/)[0] ?? '';
}

function parsePs(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  let columns: string[] | undefined;
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const lstart = PS_LSTART.exec(line);
    if (lstart) {
      const args = lstart[11] ?? '';
      const cut = args.slice(0, MAX_MATCH_CHARS);
      const startedMs = Date.UTC(Number(lstart[10]), MONTHS[lstart[5]!] ?? 0, Number(lstart[6]), Number(lstart[7]), Number(lstart[8]), Number(lstart[9]));
      records.push({ n: i + 1, excerpt: line, fields: { line: line.slice(0, MAX_MATCH_CHARS), pid: Number(lstart[1]), ppid: Number(lstart[2]), user: lstart[3], startedMs, args: cut, exe: exeOf(args), text: cut, ips: ipsIn(cut) } });
      return;
    }
    const words = line.trim().split(/\s+/);
    if (!columns && words.includes('PID') && /^(?:COMMAND|CMD|ARGS)$/.test(words[words.length - 1] ?? '')) {
      columns = words;
      return;
    }
    if (columns) {
      // Every column but the last is one word; the last (the command line) takes the rest.
      const head = columns.length - 1;
      const parts = line.trim().split(/\s+/);
      const args = parts.slice(head).join(' ');
      const cut = args.slice(0, MAX_MATCH_CHARS);
      const col = (name: string) => {
        const at = columns!.indexOf(name);
        return at >= 0 && at < head ? parts[at] : undefined;
      };
      records.push({ n: i + 1, excerpt: line, fields: { line: line.slice(0, MAX_MATCH_CHARS), pid: Number(col('PID')), ppid: col('PPID') === undefined ? undefined : Number(col('PPID')), user: col('USER'), args: cut, exe: exeOf(args), text: cut, ips: ipsIn(cut) } });
      return;
    }
    problems.push(`line ${i + 1}: not a ps line`);
  });
  return { unit: 'line', records, problems };
}

/** `10.0.2.15:22`, `[::ffff:10.0.2.15]:80`, `*:22`, `[::]:22`, `10.0.2.15%eth0:68`, `:::22`. */
function splitAddress(value: string): { ip: string | undefined; port: number | undefined } {
  const at = value.lastIndexOf(':');
  if (at < 0) return { ip: undefined, port: undefined };
  const host = value.slice(0, at);
  const port = value.slice(at + 1);
  return { ip: host === '*' ? '*' : canonicalIp(host), port: /^\d+$/.test(port) ? Number(port) : undefined };
}

const NETIDS = /^(?:tcp|udp|raw|u_str|u_dgr|u_seq|p_raw|p_dgr|nl|mptcp|sctp)$/;

function parseSs(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || /^(?:Netid|State)\s/.test(line)) return;
    const f = line.trim().split(/\s+/);
    const shift = NETIDS.test(f[0] ?? '') ? 1 : 0;
    const [state, recvQ, sendQ, local, peer] = f.slice(shift);
    if (!state || !local || !peer || !/^\d+$/.test(recvQ ?? '') || !/^\d+$/.test(sendQ ?? '')) {
      problems.push(`line ${i + 1}: not an ss line`);
      return;
    }
    const rest = f.slice(shift + 5).join(' ');
    const l = splitAddress(local);
    const p = splitAddress(peer);
    const processes = [...rest.matchAll(/\("([^"]*)",pid=\d+/g)].map((m) => m[1]!);
    records.push({
      n: i + 1,
      excerpt: line,
      fields: { line: line.slice(0, MAX_MATCH_CHARS), state, localIp: l.ip, localPort: l.port, peerIp: p.ip, peerPort: p.port, processes: [...new Set(processes)], ips: p.ip && p.ip !== '*' ? [p.ip] : [] },
    });
  });
  return { unit: 'line', records, problems };
}

function parseLsmod(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  splitLines(text).forEach((line, i) => {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s*(\S*)$/.exec(line.trim());
    if (!m || m[1] === 'Module') return;
    records.push({ n: i + 1, excerpt: line, fields: { line, module: m[1], size: Number(m[2]), usedBy: m[4] ?? '' } });
  });
  return { unit: 'line', records, problems: [] };
}

const PROC_EXE = /^\S+\s+\d+\s+(\S+)\s+\S+\s+\d+\s+.*?\s\/proc\/(\d+)\/exe -> (.*)$/;

function parseProcExe(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const m = PROC_EXE.exec(line);
    if (!m) {
      problems.push(`line ${i + 1}: not an ls -l /proc/<pid>/exe line`);
      return;
    }
    const target = m[3]!;
    const deleted = target.endsWith(' (deleted)');
    records.push({ n: i + 1, excerpt: line, fields: { line, pid: Number(m[2]), user: m[1], exe: deleted ? target.slice(0, -' (deleted)'.length) : target, deleted: deleted ? 'yes' : 'no' } });
  });
  return { unit: 'line', records, problems };
}

function parseFindSimple(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('sentinel:')) return;
    const m = /^(\d+)(?:\.(\d+))? (\d+) ([0-7]{1,4}) (\S+) (\/.*)$/.exec(line);
    if (!m) {
      problems.push(`line ${i + 1}: not a find -printf '%T@ %s %m %u %p' line`);
      return;
    }
    const mtimeMs = Math.round(Number(`${m[1]}.${m[2] ?? '0'}`) * 1000);
    records.push({ n: i + 1, excerpt: line, fields: { line, mtimeMs, size: Number(m[3]), mode: m[4], user: m[5], path: m[6], type: 'f' } });
  });
  return { unit: 'line', records, problems };
}

function parseListing(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split('\t');
    if (f.length < 8 || !/^\d+(?:\.\d+)?$/.test(f[0]!) || !/^\d+$/.test(f[5]!)) {
      problems.push(`line ${i + 1}: not a listing line (mtime, type, mode, uid, gid, size, path, link; tab-separated)`);
      return;
    }
    const link = f[f.length - 1]!;
    const path = f.slice(6, -1).join('\t');
    records.push({
      n: i + 1,
      excerpt: line.replace(/\t/g, ' '),
      fields: { line: line.slice(0, MAX_MATCH_CHARS), mtimeMs: Math.round(Number(f[0]) * 1000), type: f[1], mode: f[2], uid: f[3], gid: f[4], size: Number(f[5]), path, link: link === '' ? undefined : link },
    });
  });
  return { unit: 'line', records, problems };
}

function parseAccounts(text: string): ParsedArtifact {
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split('\t');
    if (f.length < 6 || !/^\d+$/.test(f[1]!)) {
      problems.push(`line ${i + 1}: not an accounts line (user, uid, gid, shell, password state, last change)`);
      return;
    }
    const days = f[5]!;
    records.push({
      n: i + 1,
      excerpt: line.replace(/\t/g, ' '),
      fields: { line, user: f[0], uid: Number(f[1]), gid: f[2], shell: f[3], password: f[4], lastChangeMs: /^\d+$/.test(days) && Number(days) > 0 ? Number(days) * 86_400_000 : undefined },
    });
  });
  return { unit: 'line', records, problems };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parseCloudTrail(text: string): ParsedArtifact {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { unit: 'event', records: [], problems: [`not JSON: ${(err as Error).message}`] };
  }
  const d = doc as Record<string, unknown>;
  const list = Array.isArray(doc) ? doc : Array.isArray(d?.events) ? d.events : Array.isArray(d?.Events) ? d.Events : Array.isArray(d?.Records) ? d.Records : undefined;
  if (!list) return { unit: 'event', records: [], problems: ['no events, Events or Records array'] };
  const records: ArtifactRecord[] = [];
  const problems: string[] = [];
  (list as unknown[]).forEach((item, i) => {
    const outer = (item ?? {}) as Record<string, unknown>;
    let ev: Record<string, unknown> = outer;
    if (typeof outer.CloudTrailEvent === 'string') {
      try {
        ev = { ...(JSON.parse(outer.CloudTrailEvent) as Record<string, unknown>) };
      } catch {
        problems.push(`event ${i + 1}: CloudTrailEvent is not JSON`);
      }
    }
    const identity = (ev.userIdentity ?? {}) as Record<string, unknown>;
    const eventName = str(ev.eventName) ?? str(outer.EventName);
    const eventSource = str(ev.eventSource) ?? str(outer.EventSource);
    const time = str(ev.eventTime) ?? (outer.EventTime instanceof Date ? outer.EventTime.toISOString() : str(outer.EventTime));
    const source = str(ev.sourceIPAddress);
    const ip = source ? canonicalIp(source) : undefined;
    const userAgent = str(ev.userAgent);
    const fields: Record<string, FieldValue> = {
      eventId: str(ev.eventID) ?? str(outer.EventId),
      eventName,
      eventSource,
      eventTimeMs: time ? Date.parse(time) : undefined,
      sourceIPAddress: ip ?? source,
      userAgent,
      accessKeyId: str(identity.accessKeyId) ?? str(outer.AccessKeyId),
      userArn: str(identity.arn),
      userType: str(identity.type),
      userName: str(outer.Username) ?? str(identity.userName),
      errorCode: str(ev.errorCode),
      region: str(ev.awsRegion),
      ips: ip ? [ip] : [],
    };
    const excerpt = `${time ?? '?'} ${eventSource ?? '?'} ${eventName ?? '?'} from ${source ?? '?'}${fields.errorCode ? ` (${String(fields.errorCode)})` : ''}${userAgent ? ` ua=${userAgent}` : ''}`;
    records.push({ n: i + 1, excerpt, fields });
  });
  return { unit: 'event', records, problems };
}

/** Reads an artifact's text into records for the rules. `disk:bundle` is a container, not parsed here. */
export function parseArtifact(kind: ArtifactKind, text: string, options: ParseOptions = {}): ParsedArtifact {
  const referenceMs = options.referenceTimeMs ?? Date.now();
  switch (ARTIFACT_FORMATS[kind]) {
    case 'ps':
      return parsePs(text);
    case 'ss':
      return parseSs(text);
    case 'lsmod':
      return parseLsmod(text);
    case 'proc-exe':
      return parseProcExe(text);
    case 'find-simple':
      return parseFindSimple(text);
    case 'listing':
      return parseListing(text);
    case 'accounts':
      return parseAccounts(text);
    case 'cloudtrail':
      return parseCloudTrail(text);
    case 'text':
      return parseText(text, false, referenceMs);
    case 'text-decoded':
      return parseText(text, true, referenceMs);
    case 'container':
      throw new Error(`${kind} is a container: unpack it and parse its members`);
  }
}
