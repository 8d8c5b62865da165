/** One condition of a playbook rule, checked against an event. */
export interface ExplainedCheck {
  /** The condition as written, e.g. `k8s.ns.name != "kube-system"`. */
  condition: string;
  ok: boolean;
  /** What the event has there, e.g. `"shop"`, `absent`, `unknown: ambiguous in the output text`. */
  value: string;
  /** One of the rule's identifiers (rule, tag, outputPrefix): any one of them is enough. */
  identity?: true;
}

export type ExplainedOutcome = 'decides the route' | 'joins the plan' | 'matched, its route does not run' | 'matched, not reached' | 'no match';

/** A playbook rule and what became of it for one event. */
export interface ExplainedRule {
  /** Position in the config's list, from 1. */
  rule: number;
  name?: string;
  route?: string;
  continue?: true;
  dryRun?: true;
  outcome: ExplainedOutcome;
  checks: ExplainedCheck[];
}

/** Why an event took its route (`sentinel triage --explain`). */
export interface Explanation {
  /** What the event says about itself that rules can match: rule name, tag, priority, source, tags. */
  event: string[];
  /** Every rule of the config, in order. */
  rules: ExplainedRule[];
  /** How the route was decided, step by step. */
  decision: string[];
}
