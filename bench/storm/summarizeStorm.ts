/**
 * The storm's figures from what the bot logged and what the fake Discord recorded (pure: no I/O).
 */
import type { RecordedCall } from '../../test/support/fakeDiscord/types.js';

export interface LatencyFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of seconds; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function latencies(ms: readonly number[]): LatencyFigures {
  const s = ms.map((x) => x / 1000).sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : Number.NaN };
}

const INCIDENT_ID = /inc-[0-9a-f]{20}/g;
const isWrite = (c: RecordedCall) => ['POST', 'PATCH', 'PUT', 'DELETE'].includes(c.method) && c.path.startsWith('/channels/');

export interface DiscordFigures {
  /** Every REST request the bot made. */
  requests: number;
  /** Message writes that succeeded: posts in the incident channel, posts in threads, edits, threads started. */
  channelPosts: number;
  threadPosts: number;
  edits: number;
  threadsStarted: number;
  /** 429s the fake's own per-channel limits gave (beyond injected ones: none are injected here). */
  rateLimited: number;
  injected: number;
  /** Other failed writes (status >= 400, not 429). */
  failedWrites: number;
  /** Storm digests posted. */
  digests: number;
}

const succeeded = (c: RecordedCall) => c.status >= 200 && c.status < 300;

export function discordFigures(calls: readonly RecordedCall[], channelId: string): DiscordFigures {
  const ok = calls.filter((c) => isWrite(c) && succeeded(c));
  const channelOf = (c: RecordedCall) => /^\/channels\/(\d+)/.exec(c.path)?.[1];
  const posts = ok.filter((c) => c.method === 'POST' && c.route === '/channels/:channel_id/messages');
  return {
    requests: calls.length,
    channelPosts: posts.filter((c) => channelOf(c) === channelId).length,
    threadPosts: posts.filter((c) => channelOf(c) !== channelId).length,
    edits: ok.filter((c) => c.method === 'PATCH').length,
    threadsStarted: ok.filter((c) => c.method === 'POST' && c.path.endsWith('/threads')).length,
    rateLimited: calls.filter((c) => c.status === 429 && !c.injected).length,
    injected: calls.filter((c) => c.injected).length,
    failedWrites: calls.filter((c) => isWrite(c) && c.status >= 400 && c.status !== 429).length,
    digests: posts.filter((c) => /"title":"🌩 Storm: /.test(JSON.stringify(c.body))).length,
  };
}

/** When each incident first shows in Discord: the first message write (post or edit, its own message, a digest page, an approval) naming it. */
export function firstShown(calls: readonly RecordedCall[]): Map<string, number> {
  const shown = new Map<string, number>();
  for (const c of calls) {
    if (!isWrite(c) || !succeeded(c) || c.body === undefined) continue;
    for (const m of JSON.stringify(c.body).matchAll(INCIDENT_ID)) if (!shown.has(m[0])) shown.set(m[0], c.at);
  }
  return shown;
}

/** When each approval's message (its Allow and Block buttons) reached the fake Discord. */
export function approvalPosts(calls: readonly RecordedCall[]): Map<string, number> {
  const posted = new Map<string, number>();
  for (const c of calls) {
    if (c.method !== 'POST' || c.status !== 200 || c.route !== '/channels/:channel_id/messages') continue;
    const m = /"custom_id":"apv:([^:"]+):allow"/.exec(JSON.stringify(c.body ?? {}));
    if (m && !posted.has(m[1]!)) posted.set(m[1]!, c.at);
  }
  return posted;
}

/** The intake handler's log lines, each the end of one event's handling (handleEvent and recontainFile). */
export const INTAKE_LINES: Readonly<Record<string, string>> = {
  'playbook start recorded': 'a new incident (recorded, its playbook start recorded)',
  'repeat counted on the open incident': 'a repeat counted',
  'incident folded into a storm digest': 'an incident folded into a digest',
  'repeat of a file incident: contained again': "a file repeat (its file extracted and quarantined again)",
};

export interface IntakeStalls {
  /** From the first intake line to the last, seconds. */
  spanSeconds: number;
  /** Silences longer than `thresholdMs` between intake lines, by what ended them: count and seconds. */
  byEnd: Record<string, { count: number; seconds: number }>;
  thresholdMs: number;
}

/**
 * Where the intake waited: the silences between consecutive intake lines (each line ends one
 * event's handling), each charged to the kind of line that ended it, i.e. to what the intake was
 * waiting for. A heuristic, but it names the step the intake waited on.
 */
export function intakeStalls(lines: readonly { at: number; message: string }[], thresholdMs = 100): IntakeStalls {
  const intake = lines.filter((l) => l.message in INTAKE_LINES).sort((a, b) => a.at - b.at);
  const byEnd: IntakeStalls['byEnd'] = {};
  for (let i = 1; i < intake.length; i += 1) {
    const gap = intake[i]!.at - intake[i - 1]!.at;
    if (gap <= thresholdMs) continue;
    const what = INTAKE_LINES[intake[i]!.message]!;
    const e = (byEnd[what] ??= { count: 0, seconds: 0 });
    e.count += 1;
    e.seconds += gap / 1000;
  }
  for (const e of Object.values(byEnd)) e.seconds = Math.round(e.seconds * 10) / 10;
  const spanSeconds = intake.length > 1 ? Math.round((intake[intake.length - 1]!.at - intake[0]!.at) / 100) / 10 : 0;
  return { spanSeconds, byEnd, thresholdMs };
}
