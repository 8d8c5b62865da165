/**
 * Worst-case inputs for the render builders, and a checker for Discord's limits that is stricter
 * than Discord (UTF-16 code units, not code points) and also runs the fake Discord's validator.
 */
import type { APIEmbed } from 'discord.js';
import { expect } from 'vitest';
import type { ActionResult } from '../../../src/pipeline/actions/types.js';
import type { IncidentRecord } from '../../../src/pipeline/incident/incidentRecord.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { validateMessageBody } from '../../support/fakeDiscord/limits.js';

/** A string that looks like a Step Functions task token; it must never reach Discord. */
export const TASK_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAA${'Zm9vYmFyYmF6cXV4'.repeat(40)}==`;

/** Hostile text: mentions, markdown, masked links, fences, bidi override, zero-width, controls. */
export const HOSTILE =
  '@everyone @here <@123456789012345678> <@&234567890123456789> <#345678901234567890> **bold** __u__ ||spoiler|| ' +
  '[click me](https://evil.example/login) ```js\nalert(1)``` `code` # Heading\n> quote\n-# tiny\n\u202Etxt.exe\u202C ze\u200Bro\u200Cwidth \u0007bell \u2066iso\u2069 lone\ud83d surrogate';

/** Emoji (surrogate pairs), a ZWJ sequence and combining marks, repeated to `length` code units (well-formed). */
export function unicodeFill(length: number, seed = ''): string {
  const unit = `${seed}😀👩‍💻e\u0301Ω🏳️‍🌈 `;
  let s = '';
  while (s.length < length) s += unit;
  s = s.slice(0, length);
  return /[\ud800-\udbff]$/.test(s) ? `${s.slice(0, -1)}x` : s;
}

/** 100 KB command line, mixing hostile text and emoji so a cut can land inside a surrogate pair. */
export const HUGE_CMDLINE = `bash -c "${HOSTILE} ${unicodeFill(100_000)} ${'`'.repeat(50)}"`;
export const LONG_RULE = `${'Ⓡ😀'.repeat(60)}${'rule_name*'.repeat(20)}`.slice(0, 300);

export function worstTriage(overrides: Partial<TriageResult> = {}): TriageResult {
  const k8s = (p: string) => `${p}-${'a'.repeat(240)}😀${HOSTILE}`;
  return {
    source: 'falco',
    rule: LONG_RULE,
    severity: 'critical',
    route: 'approval',
    target: { node: k8s('node'), namespace: k8s('ns'), pod: k8s('pod'), container: k8s('ctr'), instanceId: 'i-0123456789abcdef0' },
    artifact: { path: `/tmp/${unicodeFill(5000)}`, src: `https://evil.example/${'x'.repeat(3000)}` },
    ioc: { ip: '2001:db8::7', port: 4444 },
    dedupeKey: 'falco-0123456789abcdef0123456789abcdef01234567',
    steps: Array.from({ length: 60 }, (_, i) => `step-${i}-${HOSTILE}`),
    time: '2026-11-20T03:14:07.123Z',
    context: {
      user: `root${HOSTILE}${unicodeFill(2000)}`,
      proc: `bash${unicodeFill(2000)}`,
      parent: `sshd${HOSTILE}`,
      cmdline: HUGE_CMDLINE,
      taskToken: TASK_TOKEN,
      title: `${HOSTILE}${unicodeFill(8000)}`,
      score: '8.9',
      resourceType: `Instance${HOSTILE}`,
      account: '123456789012',
      region: 'ap-northeast-2',
      findingId: 'f'.repeat(500),
      count: '12',
    },
    warnings: Array.from({ length: 100 }, (_, i) => `warning ${i}: ${HOSTILE}${unicodeFill(500)}`),
    ...overrides,
  };
}

export function worstPreflight(): ActionResult<object> {
  return {
    status: 'skipped',
    summary: `dry run: would add NACL rule 90 denying 2001:db8::7/128 ${HOSTILE}${unicodeFill(5000)}`,
    details: {
      dryRun: true,
      networkAclId: 'acl-0123456789abcdef0',
      ruleNumber: 90,
      securityGroups: Array.from({ length: 200 }, (_, i) => ({ groupId: `sg-${String(i).padStart(17, '0')}`, groupName: `group ${HOSTILE}` })),
      taskToken: TASK_TOKEN,
      nested: { sessionToken: TASK_TOKEN, opaque: TASK_TOKEN, note: `fine ${HOSTILE}` },
      notes: Array.from({ length: 300 }, (_, i) => `note ${i} ${unicodeFill(300)}`),
    },
  };
}

export function worstIncidentRecord(): IncidentRecord {
  const triage = worstTriage({ route: 'file-artifact' });
  const evidence = Array.from({ length: 1000 }, (_, i) => ({
    kind: `memory-dump-${i}-${HOSTILE}`,
    location: `s3://sentinel-evidence/incidents/2026-11-20T03:14:07.123Z/${'exec'.repeat(20)}/${unicodeFill(400, String(i))}.bin`,
    sha256: i.toString(16).padStart(64, 'a'),
    size: i * 7919 * 1024,
    collector: 'extract-file',
    collectedAt: '2026-11-20T03:15:00Z',
    source: {},
  }));
  return {
    schema: 'sentinel.incident/v1',
    incidentId: `inc-${'9'.repeat(100)}`,
    executionName: 'falco-0123456789abcdef0123456789abcdef01234567',
    startTime: '2026-11-20T03:14:07.123Z',
    route: 'file-artifact',
    triage: triage as unknown as Record<string, unknown>,
    actions: Array.from({ length: 40 }, (_, i) => ({
      action: `extract-file-${i}`,
      status: i % 3 === 0 ? ('failed' as const) : ('succeeded' as const),
      summary: `copied ${HOSTILE} ${unicodeFill(3000)}`,
      details: { taskToken: TASK_TOKEN },
      at: '2026-11-20T03:15:00Z',
    })),
    evidence,
    decisions: Array.from({ length: 50 }, (_, i) => ({
      decision: i % 2 ? 'block' : 'allow',
      by: i % 2 ? `discord:${'1'.repeat(18)}` : `stepfunctions:${HOSTILE}`,
      at: '2026-11-20T03:16:00Z',
      action: 'isolate-node',
      note: `${HOSTILE}${unicodeFill(2000)}`,
    })),
    error: { error: `States.TaskFailed ${HOSTILE}${unicodeFill(5000)}`, cause: `cause ${TASK_TOKEN.slice(0, 10)} ${unicodeFill(5000)}` },
    repeats: 42,
    recordedAt: '2026-11-20T03:17:00Z',
    recordedBy: 'stepfunctions:exec',
    manifest: evidence,
  };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const SPOOFING = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Every string in `value` (recursively). */
export function allStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) allStrings(v, out);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) allStrings(v, out);
  return out;
}

function embedUnits(e: APIEmbed): number {
  let n = (e.title?.length ?? 0) + (e.description?.length ?? 0) + (e.footer?.text.length ?? 0) + (e.author?.name.length ?? 0);
  for (const f of e.fields ?? []) n += f.name.length + f.value.length;
  return n;
}

interface PayloadLike {
  content?: string;
  embeds?: APIEmbed[];
  components?: Array<{ type: number; components: Array<{ custom_id?: string; label?: string }> }>;
  allowedMentions?: unknown;
  flags?: number;
}

/** Asserts Discord's limits (in UTF-16 units), no mentions, no broken or spoofing characters. */
export function expectWithinDiscordLimits(payload: PayloadLike): void {
  expect(payload.allowedMentions).toEqual({ parse: [] });
  expect(payload).not.toHaveProperty('allowedMentions.repliedUser');
  if (payload.content !== undefined) expect(payload.content.length).toBeLessThanOrEqual(2000);
  const embeds = payload.embeds ?? [];
  expect(embeds.length).toBeLessThanOrEqual(10);
  let total = 0;
  for (const e of embeds) {
    expect(e.title?.length ?? 0).toBeLessThanOrEqual(256);
    expect(e.description?.length ?? 0).toBeLessThanOrEqual(4096);
    expect(e.footer?.text.length ?? 0).toBeLessThanOrEqual(2048);
    expect(e.author?.name.length ?? 0).toBeLessThanOrEqual(256);
    expect(e.fields?.length ?? 0).toBeLessThanOrEqual(25);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeGreaterThan(0);
      expect(f.name.length).toBeLessThanOrEqual(256);
      expect(f.value.length).toBeGreaterThan(0);
      expect(f.value.length).toBeLessThanOrEqual(1024);
    }
    total += embedUnits(e);
  }
  expect(total).toBeLessThanOrEqual(6000);
  const rows = payload.components ?? [];
  expect(rows.length).toBeLessThanOrEqual(5);
  for (const row of rows) {
    expect(row.components.length).toBeGreaterThan(0);
    expect(row.components.length).toBeLessThanOrEqual(5);
    for (const c of row.components) {
      expect(c.custom_id?.length ?? 0).toBeLessThanOrEqual(100);
      expect(c.label?.length ?? 0).toBeLessThanOrEqual(80);
    }
  }
  for (const s of allStrings(payload)) {
    expect(LONE_SURROGATE.test(s), `lone surrogate in ${JSON.stringify(s.slice(0, 80))}`).toBe(false);
    expect(SPOOFING.test(s), `spoofing character in ${JSON.stringify(s.slice(0, 80))}`).toBe(false);
  }
  // The fake Discord's own validator (code points, as Discord counts) must accept it too.
  expect(() =>
    validateMessageBody({ content: payload.content, embeds: payload.embeds, components: payload.components, flags: payload.flags } as Record<string, unknown>),
  ).not.toThrow();
}

/** The ids of every button. */
export function customIds(payload: PayloadLike): string[] {
  return (payload.components ?? []).flatMap((row) => row.components.map((c) => c.custom_id ?? ''));
}
