import type { ExplainedOutcome } from './explanation.js';

/** What combining needs from a playbook rule (Falco or GuardDuty). */
export interface CombinableRule<R extends string> {
  name?: string | undefined;
  route?: R | undefined;
  dryRun?: boolean | undefined;
  continue?: boolean | undefined;
}

export interface RuleMatch<T> {
  /** The rule's position in the config's list (0-based). */
  index: number;
  rule: T;
}

export interface CombinedMatch<R extends string, T extends CombinableRule<R>> {
  /** The rules that make the plan, in order: the first match, and each next one while a rule says `continue`. */
  taken: RuleMatch<T>[];
  /** The rule whose route runs: the first taken rule that names one. */
  routeFrom?: RuleMatch<T>;
  /** Taken rules that name another route: matched, but their route does not run (one route per incident). */
  notRun: RuleMatch<T>[];
  /** Matched rules after the last taken one (a rule before them did not continue). */
  notReached: RuleMatch<T>[];
  /** Any taken rule asked for a dry run: the whole plan is one (a dry run always wins). */
  dryRun: boolean;
}

/**
 * Combines the matched rules (already in precedence order) into one plan. The first match is
 * taken; while the last taken rule says `continue: true`, the next match is taken too. The first
 * taken rule that names a route decides it; later taken rules with the same route add nothing
 * (its playbook runs once, each action in it once), and those naming another route are reported
 * as not run, since an incident runs one playbook. `dryRun` from any taken rule makes the whole
 * plan a dry run.
 */
export function combineMatches<R extends string, T extends CombinableRule<R>>(ordered: readonly RuleMatch<T>[]): CombinedMatch<R, T> {
  if (ordered.length === 0) return { taken: [], notRun: [], notReached: [], dryRun: false };
  if (ordered.length === 1) {
    // The common case (one rule matched), without the searches below: it is taken, and decides the route if it names one.
    const only = ordered[0]!;
    const dryRun = only.rule.dryRun === true;
    if (only.rule.route === undefined) return { taken: [only], notRun: [], notReached: [], dryRun };
    return { taken: [only], routeFrom: only, notRun: [], notReached: [], dryRun };
  }
  const taken: RuleMatch<T>[] = [];
  for (const m of ordered) {
    taken.push(m);
    if (!m.rule.continue) break;
  }
  const routeFrom = taken.find((m) => m.rule.route !== undefined);
  return {
    taken,
    ...(routeFrom ? { routeFrom } : {}),
    notRun: taken.filter((m) => m !== routeFrom && m.rule.route !== undefined && m.rule.route !== routeFrom?.rule.route),
    notReached: ordered.slice(taken.length),
    dryRun: taken.some((m) => m.rule.dryRun === true),
  };
}

/** What became of the rule at `index` (for --explain). */
export function outcomeOf<R extends string, T extends CombinableRule<R>>(c: CombinedMatch<R, T>, index: number): ExplainedOutcome {
  if (c.routeFrom?.index === index) return 'decides the route';
  if (c.notRun.some((m) => m.index === index)) return 'matched, its route does not run';
  if (c.taken.some((m) => m.index === index)) return 'joins the plan';
  if (c.notReached.some((m) => m.index === index)) return 'matched, not reached';
  return 'no match';
}

/** `rule 3 "reverse shell"` (1-based, as people count entries). */
export function ruleLabel(m: RuleMatch<{ name?: string | undefined }>): string {
  return `rule ${m.index + 1}${m.rule.name ? ` ${JSON.stringify(m.rule.name)}` : ''}`;
}

/** The warning for each taken rule whose route does not run. */
export function notRunWarnings<R extends string, T extends CombinableRule<R>>(c: CombinedMatch<R, T>): string[] {
  if (!c.routeFrom) return [];
  return c.notRun.map(
    (m) => `${ruleLabel(m)} also matched (route ${m.rule.route}), not run: an incident runs one route, that of ${ruleLabel(c.routeFrom!)} (${c.routeFrom!.rule.route})`,
  );
}
