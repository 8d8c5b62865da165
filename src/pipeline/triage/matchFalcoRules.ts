import { combineMatches, outcomeOf, type CombinedMatch, type RuleMatch } from './combineMatches.js';
import type { ExplainedCheck, ExplainedRule } from './explanation.js';
import { describeFieldCondition, describeReading, testFieldCondition, type FieldReading } from './fieldConditions.js';
import { falcoPriorityRank, type FalcoPriority } from './falcoPriority.js';
import { indexFalcoRules } from './indexFalcoRules.js';
import type { FalcoRoute, FalcoRuleConfig, PlaybookConfig, PriorityCondition } from './playbookConfig.js';

/**
 * What playbook rules may match on: only what Falco (or the forwarder) says in structure. The
 * rule name of JSON output, the tag and fixed prefix the rule writes first, priority, source,
 * tags, and fields read by `field` (output_fields and custom fields; for a text line, only what
 * its template reads the same way every time). Never a substring of the free text.
 */
export interface FalcoFacts {
  ruleName?: string | undefined;
  tag: string;
  body: string;
  priority: FalcoPriority;
  source?: string | undefined;
  tags: readonly string[];
  field(key: string): FieldReading;
}

interface RuleCheck {
  index: number;
  matched: boolean;
  /** Matched by naming the event's Falco rule. */
  byName: boolean;
  /** Matched by the output's tag or prefix (and not by name). */
  byTextOnly: boolean;
  checks: ExplainedCheck[];
}

const list = (values: readonly string[]) => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;

function comparePriority(p: FalcoPriority, c: PriorityCondition): boolean {
  const d = falcoPriorityRank(p) - falcoPriorityRank(c.priority);
  switch (c.op) {
    case '>=':
      return d >= 0;
    case '>':
      return d > 0;
    case '<=':
      return d <= 0;
    case '<':
      return d < 0;
    case '=':
      return d === 0;
    case '!=':
      return d !== 0;
  }
}

/**
 * Checks one rule. Its identifiers (rule, tag, outputPrefix) are alternatives: any one is enough;
 * every other condition must hold. With `full`, every condition is checked and described;
 * otherwise checking stops at the first that fails.
 */
/** A rule that failed before any condition was described (the common case: not this event's rule). */
const NO_MATCH: RuleCheck = Object.freeze({ index: -1, matched: false, byName: false, byTextOnly: false, checks: [] as ExplainedCheck[] }) as RuleCheck;

function checkRule(rule: FalcoRuleConfig, index: number, f: FalcoFacts, full: boolean): RuleCheck {
  const m = rule.match;
  const byName = m.rule !== undefined && f.ruleName !== undefined && m.rule.includes(f.ruleName);
  const byTag = m.tag !== undefined && f.tag !== '' && m.tag.includes(f.tag);
  const byPrefix = m.outputPrefix !== undefined && m.outputPrefix.some((p) => f.body.startsWith(p));
  const hasIdentity = m.rule !== undefined || m.tag !== undefined || m.outputPrefix !== undefined;
  const identified = !hasIdentity || byName || byTag || byPrefix;
  if (!identified && !full) return NO_MATCH;
  const checks: ExplainedCheck[] = [];
  const result = (matched: boolean): RuleCheck => ({ index, matched, byName: matched && byName, byTextOnly: matched && !byName && (byTag || byPrefix), checks });
  if (full) {
    if (m.rule) checks.push({ condition: `rule in ${list(m.rule)}`, ok: byName, value: f.ruleName === undefined ? 'none (a text line names no rule)' : JSON.stringify(f.ruleName), identity: true });
    if (m.tag) checks.push({ condition: `tag in ${list(m.tag)}`, ok: byTag, value: JSON.stringify(f.tag), identity: true });
    if (m.outputPrefix) checks.push({ condition: `output starts with one of ${list(m.outputPrefix)}`, ok: byPrefix, value: byPrefix ? 'yes' : 'no', identity: true });
  }
  let ok = identified;
  const check = (condition: () => string, pass: boolean, value: () => string): boolean => {
    if (full) checks.push({ condition: condition(), ok: pass, value: value() });
    ok &&= pass;
    return ok || full;
  };
  if (m.tags && !check(() => `tags include any of ${list(m.tags!)}`, m.tags.some((t) => f.tags.includes(t)), () => (f.tags.length ? list(f.tags) : 'none'))) return result(false);
  if (m.minPriority && !check(() => `priority >= ${m.minPriority}`, falcoPriorityRank(f.priority) >= falcoPriorityRank(m.minPriority), () => f.priority)) return result(false);
  if (m.priority && !check(() => `priority ${m.priority!.op} ${m.priority!.priority}`, comparePriority(f.priority, m.priority), () => f.priority)) return result(false);
  if (m.source && !check(() => `source in ${list(m.source!)}`, f.source !== undefined && m.source.includes(f.source), () => (f.source === undefined ? 'none' : JSON.stringify(f.source)))) return result(false);
  for (const [key, conditions] of Object.entries(m.fields ?? {})) {
    const reading = f.field(key);
    for (const c of conditions) {
      if (!check(() => describeFieldCondition(key, c), testFieldCondition(c, reading), () => describeReading(reading))) return result(false);
    }
  }
  return result(ok);
}

/**
 * checkRule without `full`, for the rules an event can match (this runs for every event): whether
 * the rule matches, by its name or by its text alone, with nothing described. The conditions are
 * checked in checkRule's order and it stops at the first that fails, as checkRule does.
 */
function quickCheck(rule: FalcoRuleConfig, f: FalcoFacts): 0 | 1 | 2 | 3 {
  const m = rule.match;
  const byName = m.rule !== undefined && f.ruleName !== undefined && m.rule.includes(f.ruleName);
  const byTag = m.tag !== undefined && f.tag !== '' && m.tag.includes(f.tag);
  const byPrefix = m.outputPrefix !== undefined && m.outputPrefix.some((p) => f.body.startsWith(p));
  const hasIdentity = m.rule !== undefined || m.tag !== undefined || m.outputPrefix !== undefined;
  if (hasIdentity && !byName && !byTag && !byPrefix) return NOT_MATCHED;
  if (m.tags && !m.tags.some((t) => f.tags.includes(t))) return NOT_MATCHED;
  if (m.minPriority && !(falcoPriorityRank(f.priority) >= falcoPriorityRank(m.minPriority))) return NOT_MATCHED;
  if (m.priority && !comparePriority(f.priority, m.priority)) return NOT_MATCHED;
  if (m.source && !(f.source !== undefined && m.source.includes(f.source))) return NOT_MATCHED;
  if (m.fields) {
    for (const key in m.fields) {
      if (!Object.hasOwn(m.fields, key)) continue;
      const reading = f.field(key);
      for (const c of m.fields[key]!) if (!testFieldCondition(c, reading)) return NOT_MATCHED;
    }
  }
  return byName ? MATCHED_BY_NAME : byTag || byPrefix ? MATCHED_BY_TEXT : MATCHED;
}
const NOT_MATCHED = 0;
const MATCHED = 1;
const MATCHED_BY_NAME = 2;
const MATCHED_BY_TEXT = 3;

export interface FalcoRuleMatch {
  combined: CombinedMatch<FalcoRoute, FalcoRuleConfig>;
  /** With `explain`: every rule, what it checked and what became of it. */
  explained?: ExplainedRule[];
}

/**
 * Matches an alert's facts against the config's Falco rules. Matches keep config order, except
 * that when a rule names the event's Falco rule (JSON output), rules matched only by the output's
 * tag or prefix go after the others: the first word of an output can be a field value, the rule
 * name cannot. The matches are then combined into one plan (combineMatches: `continue`,
 * `dryRun`, one route).
 */
export function matchFalcoRules(config: PlaybookConfig, facts: FalcoFacts, options: { explain?: boolean } = {}): FalcoRuleMatch {
  const rules = config.falco.rules;
  const full = options.explain === true;
  const checked: RuleCheck[] = [];
  const matched: RuleCheck[] = [];
  if (full) {
    for (let i = 0; i < rules.length; i++) {
      const c = checkRule(rules[i]!, i, facts, full);
      checked.push(c);
      if (c.matched) matched.push(c);
    }
  } else {
    // Only the rules that can be the event's: every other one fails on identity (checkRule's NO_MATCH).
    const candidates = indexFalcoRules(rules).candidates(facts.ruleName, facts.tag, facts.body);
    // The common case, one rule matched (or none), without the lists below.
    let first = -1;
    let firstKind: number = NOT_MATCHED;
    const check = (index: number, kind: number): RuleCheck => ({ index, matched: true, byName: kind === MATCHED_BY_NAME, byTextOnly: kind === MATCHED_BY_TEXT, checks: [] });
    for (const i of candidates) {
      const kind = quickCheck(rules[i]!, facts);
      if (kind === NOT_MATCHED) continue;
      if (first === -1) {
        first = i;
        firstKind = kind;
        continue;
      }
      if (matched.length === 0) matched.push(check(first, firstKind));
      matched.push(check(i, kind));
    }
    if (matched.length === 0) return { combined: combineMatches<FalcoRoute, FalcoRuleConfig>(first === -1 ? [] : [{ index: first, rule: rules[first]! }]) };
  }
  const ordered = matched.some((c) => c.byName) ? [...matched.filter((c) => !c.byTextOnly), ...matched.filter((c) => c.byTextOnly)] : matched;
  const combined = combineMatches<FalcoRoute, FalcoRuleConfig>(ordered.map((c): RuleMatch<FalcoRuleConfig> => ({ index: c.index, rule: rules[c.index]! })));
  if (!options.explain) return { combined };
  const explained = checked.map((c): ExplainedRule => {
    const r = rules[c.index]!;
    return {
      rule: c.index + 1,
      ...(r.name ? { name: r.name } : {}),
      ...(r.route ? { route: r.route } : {}),
      ...(r.continue ? { continue: true as const } : {}),
      ...(r.dryRun ? { dryRun: true as const } : {}),
      outcome: outcomeOf(combined, c.index),
      checks: c.checks,
    };
  });
  return { combined, explained };
}
