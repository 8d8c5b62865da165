import type { AwsNotConfiguredError } from '../errors.js';
import type { ActionDefinition, ActionResult } from './actions/types.js';

/** What an AWS action would have done, when sentinel has no AWS client for it (embedded mode without credentials). */
export interface AwsNotConfiguredPlan {
  /** The action id, e.g. `deny-egress`. */
  action: string;
  /** The validated input it was given (or, when that is large, its field names only). */
  input: unknown;
  /** The AWS services whose clients are missing, e.g. `['EC2']`. */
  needs: readonly string[];
  /** The IAM actions it calls when AWS is configured. */
  iam: readonly string[];
  /** Why it did not run (the error's message). */
  reason: string;
}

export interface AwsNotConfiguredDetails {
  awsNotConfigured: true;
  /** Nothing was changed: readers that know dry runs treat this result as one. */
  dryRun: true;
  plan: AwsNotConfiguredPlan;
}

/** Inputs larger than this (as JSON) are carried as their field names only: the result travels back through the playbook. */
const INPUT_JSON_MAX = 8 * 1024;
const WHAT_MAX = 160;
const FACTS_MAX = 6;
const NOT_SHOWN = /token|secret|passw|credential|cookie|authori[sz]ation|signature/i;

/** The first sentence of an action's description, without its parentheses, lower-cased to follow "would". */
function whatItDoes(description: string): string {
  const sentence = (description.split(/\.(?:\s|$)/)[0] ?? description).replace(/\s*\([^()]*\)/g, '').trim();
  const cut = sentence.length > WHAT_MAX ? `${sentence.slice(0, sentence.lastIndexOf(' ', WHAT_MAX - 1) > 0 ? sentence.lastIndexOf(' ', WHAT_MAX - 1) : WHAT_MAX - 1)}…` : sentence;
  return cut.charAt(0).toLowerCase() + cut.slice(1);
}

function factValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 80 ? `${value.slice(0, 79)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
    const shown = value.slice(0, 3).map((v) => factValue(v)).join(', ');
    return value.length > 3 ? `${shown}, …` : shown;
  }
  return undefined;
}

/** `ip=203.0.113.7, port=4444`: the input's plain top-level fields (secrets never), at most six. */
function inputFacts(input: unknown): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return '';
  const facts: string[] = [];
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (NOT_SHOWN.test(key)) continue;
    const text = factValue(value);
    if (text !== undefined && text !== '') facts.push(`${key}=${text}`);
    if (facts.length === FACTS_MAX) break;
  }
  return facts.join(', ');
}

function boundedInput(input: unknown): unknown {
  const json = JSON.stringify(input) ?? '';
  if (json.length <= INPUT_JSON_MAX) return input;
  const fields = typeof input === 'object' && input !== null && !Array.isArray(input) ? Object.keys(input) : [];
  return { omitted: `the input is ${json.length} characters of JSON, too large to carry in the plan`, fields };
}

/**
 * The result of an AWS action sentinel cannot run because it has no client for the service: a
 * `skipped` result that says so and carries the plan (the action, its input, what it needs). A
 * playbook step answered with it succeeds (SendTaskSuccess), and the report shows the plan.
 */
export function planWithoutAws(definition: Pick<ActionDefinition, 'id' | 'description' | 'permissions'>, input: unknown, err: AwsNotConfiguredError): ActionResult<AwsNotConfiguredDetails> {
  const facts = inputFacts(input);
  const needs = err.services.join(', ');
  const summary = `AWS not configured: ${definition.id} would ${whatItDoes(definition.description)}${facts ? ` (${facts})` : ''}; needs ${needs}`;
  return {
    status: 'skipped',
    summary,
    details: {
      awsNotConfigured: true,
      dryRun: true,
      plan: { action: definition.id, input: boundedInput(input), needs: err.services, iam: definition.permissions.iam, reason: err.message },
    },
  };
}
