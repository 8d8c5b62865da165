/**
 * The one generic engine that applies analysis rules to parsed artifacts. It has no
 * rule-specific code: a rule is data (loadAnalysisRules.ts).
 */
import type { AnalysisRule, ArtifactKind, Condition, SetName } from './artifactKinds.js';
import { canonicalIp, isPublicIp, MAX_MATCH_CHARS, type ArtifactRecord, type FieldValue, type ParsedArtifact } from './parseArtifact.js';

export interface MatchContext {
  sets: Partial<Record<SetName, ReadonlySet<string>>>;
  window?: { sinceMs: number; untilMs: number };
}

export interface MatchContextInput {
  knownBadIps?: readonly string[];
  findingRemoteIp?: string;
  instanceAddresses?: readonly string[];
  window?: { since: string | Date; until: string | Date };
}

function ipSet(values: readonly (string | undefined)[]): Set<string> {
  return new Set(values.map((v) => (v ? canonicalIp(v) : undefined)).filter((v): v is string => v !== undefined));
}

/** The sets and window for one analysis. The finding's remote IP counts as known bad too. */
export function buildMatchContext(input: MatchContextInput): MatchContext {
  const window = input.window ? { sinceMs: new Date(input.window.since).getTime(), untilMs: new Date(input.window.until).getTime() } : undefined;
  return {
    sets: {
      knownBadIps: ipSet([...(input.knownBadIps ?? []), input.findingRemoteIp]),
      findingRemoteIp: ipSet([input.findingRemoteIp]),
      instanceAddresses: ipSet(input.instanceAddresses ?? []),
    },
    ...(window ? { window } : {}),
  };
}

const compiled = new WeakMap<object, RegExp>();

function regexOf(c: { matches: string; flags?: string }): RegExp {
  let re = compiled.get(c);
  if (!re) {
    re = new RegExp(c.matches, (c.flags ?? '').replace(/[gy]/g, ''));
    compiled.set(c, re);
  }
  return re;
}

function values(v: FieldValue): (string | number)[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? [...(v as readonly string[])] : [v as string | number];
}

const DAY = 86_400_000;

/** Whether one record satisfies a condition. */
export function evaluate(c: Condition, fields: Readonly<Record<string, FieldValue>>, ctx: MatchContext): boolean {
  if ('not' in c) return !evaluate(c.not, fields, ctx);
  if ('all' in c) return c.all.every((x) => evaluate(x, fields, ctx));
  if ('any' in c) return c.any.some((x) => evaluate(x, fields, ctx));
  const vs = values(fields[c.field]);
  if ('matches' in c) {
    const re = regexOf(c);
    return vs.some((v) => re.test(String(v).slice(0, MAX_MATCH_CHARS)));
  }
  if ('equals' in c) return vs.some((v) => v === c.equals);
  if ('oneOf' in c) return vs.some((v) => c.oneOf.includes(v));
  if ('inSet' in c) {
    const set = ctx.sets[c.inSet];
    return !!set && vs.some((v) => {
      const ip = canonicalIp(String(v));
      return ip !== undefined && set.has(ip);
    });
  }
  if ('withinWindow' in c) {
    const w = ctx.window;
    if (!w) return false;
    return vs.some((v) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (c.withinWindow === 'day') return Math.floor(v / DAY) >= Math.floor(w.sinceMs / DAY) && Math.floor(v / DAY) <= Math.floor(w.untilMs / DAY);
      return v >= w.sinceMs && v <= w.untilMs;
    });
  }
  if ('atLeast' in c) return vs.some((v) => typeof v === 'number' && v >= c.atLeast);
  if ('publicIp' in c) return vs.some((v) => isPublicIp(String(v)));
  return false;
}

export interface RuleMatch {
  rule: AnalysisRule;
  /** The matching records (empty for an `absent` rule). */
  records: ArtifactRecord[];
}

/** Applies every rule that reads `kind` to one parsed artifact. */
export function applyAnalysisRules(kind: ArtifactKind, parsed: ParsedArtifact, ctx: MatchContext, rules: readonly AnalysisRule[]): RuleMatch[] {
  const out: RuleMatch[] = [];
  for (const rule of rules) {
    if (!rule.sources.includes(kind)) continue;
    const records = parsed.records.filter((r) => evaluate(rule.match, r.fields, ctx));
    if ((rule.when ?? 'present') === 'absent') {
      if (records.length === 0) out.push({ rule, records: [] });
    } else if (records.length) {
      out.push({ rule, records });
    }
  }
  return out;
}
