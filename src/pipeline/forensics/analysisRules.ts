/**
 * The forensic analysis rules and their engine, in one import: the artifact kinds and rule shapes
 * (artifactKinds.ts), the parsers (parseArtifact.ts), the engine (applyAnalysisRules.ts), and the
 * stock rules, which are data: config/analysis-rules/*.yaml, loaded and validated by
 * loadAnalysisRules.ts. A team's own rules (SENTINEL_ANALYSIS_RULES_DIR) join them through
 * analysisRulesFor(settings).
 */
import type { AnalysisRule, ArtifactKind } from './artifactKinds.js';
import { applyAnalysisRules, type MatchContext, type RuleMatch } from './applyAnalysisRules.js';
import { loadAnalysisRules } from './loadAnalysisRules.js';
import type { ParsedArtifact } from './parseArtifact.js';

export * from './artifactKinds.js';
export * from './parseArtifact.js';
export { buildMatchContext, evaluate, type MatchContext, type MatchContextInput, type RuleMatch } from './applyAnalysisRules.js';
export { analysisRulesFor, loadAnalysisRules } from './loadAnalysisRules.js';

/** sentinel's stock rules (config/analysis-rules), in report order. */
export const ANALYSIS_RULES: readonly AnalysisRule[] = loadAnalysisRules();

/** Applies every rule that reads `kind` (the stock rules unless given) to one parsed artifact. */
export function applyRules(kind: ArtifactKind, parsed: ParsedArtifact, ctx: MatchContext, rules: readonly AnalysisRule[] = ANALYSIS_RULES): RuleMatch[] {
  return applyAnalysisRules(kind, parsed, ctx, rules);
}
