import { looksLikeFalcoJson, looksLikeFluentBit, normalizeFalco } from './normalizeFalco.js';
import type { PlaybookConfig } from './playbookConfig.js';
import { triageFalco } from './triageFalco.js';
import { looksLikeGuardDuty, triageGuardDuty } from './triageGuardDuty.js';
import type { TriageOutcome } from './types.js';

const UNRECOGNIZED =
  'not a recognizable event: expected Falco JSON output (rule, priority, output), a Fluent Bit record ({"falco": {"log": ...}}) or a GuardDuty finding ("detail-type": "GuardDuty Finding")';

/**
 * Triage one parsed JSON value: normalize it, classify it by the playbook
 * config and plan its steps. Never throws: anything unusable is an error result.
 */
export function triageEvent(value: unknown, config: PlaybookConfig): TriageOutcome {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, error: `${UNRECOGNIZED} (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})` };
    }
    const v = value as Record<string, unknown>;
    if (looksLikeGuardDuty(v)) return triageGuardDuty(v, config);
    if (looksLikeFluentBit(v) || looksLikeFalcoJson(v)) {
      const n = normalizeFalco(v);
      if (!n.ok) return n;
      return { ok: true, result: triageFalco(n.alert, config) };
    }
    return { ok: false, error: UNRECOGNIZED };
  } catch (err) {
    // Defensive: a bug must cost one event, not the stream.
    return { ok: false, error: `internal error while triaging: ${(err as Error)?.message ?? String(err)}` };
  }
}
