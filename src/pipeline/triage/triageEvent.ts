import type { Explanation } from './explanation.js';
import { isGetFindingsOutput } from './isGetFindingsOutput.js';
import { looksLikeFalcoJson, looksLikeFluentBit, looksLikePlainFluentBit, normalizeFalco, normalizeFalcoLine, type NormalizeResult } from './normalizeFalco.js';
import type { PlaybookConfig } from './playbookConfig.js';
import { triageFalco } from './triageFalco.js';
import { looksLikeGuardDuty, triageGuardDuty } from './triageGuardDuty.js';
import type { TriageOutcome } from './types.js';

const UNRECOGNIZED =
  'not a recognizable event: expected Falco JSON output (rule, priority, output), a Fluent Bit record ({"falco": {"log": ...}} or {"log": ..., "kubernetes": ...}) or a GuardDuty finding ("detail-type": "GuardDuty Finding", a bare finding, or GetFindings output)';

export interface TriageOptions {
  /** Also say which playbook rules matched and why (`sentinel triage --explain`). */
  explain?: boolean;
}

/** A triage outcome, with the explanation when one was asked for. */
export type ExplainedOutcome = TriageOutcome & { explanation?: Explanation };

function fromNormalized(n: NormalizeResult, config: PlaybookConfig, options: TriageOptions): ExplainedOutcome {
  if (!n.ok) return n;
  const { result, explanation } = triageFalco(n.alert, config, options);
  return explanation ? { ok: true, result, explanation } : { ok: true, result };
}

/**
 * Triage one parsed JSON value: normalize it, classify it by the playbook
 * config and plan its steps. Never throws: anything unusable is an error result.
 */
export function triageEvent(value: unknown, config: PlaybookConfig, options: TriageOptions = {}): ExplainedOutcome {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, error: `${UNRECOGNIZED} (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})` };
    }
    const v = value as Record<string, unknown>;
    if (isGetFindingsOutput(v)) {
      // `sentinel triage` expands it (readEvents); as one event it would be several incidents in one.
      return { ok: false, error: `GuardDuty GetFindings output holds ${v.Findings.length} findings: triage each finding as its own event` };
    }
    if (looksLikeGuardDuty(v)) return triageGuardDuty(v, config, options);
    if (looksLikeFluentBit(v) || looksLikeFalcoJson(v) || looksLikePlainFluentBit(v)) return fromNormalized(normalizeFalco(v), config, options);
    return { ok: false, error: UNRECOGNIZED };
  } catch (err) {
    // Defensive: a bug must cost one event, not the stream.
    return { ok: false, error: `internal error while triaging: ${(err as Error)?.message ?? String(err)}` };
  }
}

/**
 * Triage one line of Falco's text output (`kubectl logs ds/falco`): `<time>: <Priority> <output>`.
 * Falco's own log lines (start-up, statistics) come back `skipped`. Never throws.
 */
export function triageLine(line: string, config: PlaybookConfig, options: TriageOptions = {}): ExplainedOutcome {
  try {
    return fromNormalized(normalizeFalcoLine(line), config, options);
  } catch (err) {
    return { ok: false, error: `internal error while triaging: ${(err as Error)?.message ?? String(err)}` };
  }
}
