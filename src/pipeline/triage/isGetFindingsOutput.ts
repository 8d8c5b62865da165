/** GuardDuty's GetFindings output (`aws guardduty get-findings`): `{"Findings": [...]}`, each finding an event. */
export function isGetFindingsOutput(v: unknown): v is { Findings: unknown[] } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Array.isArray((v as { Findings?: unknown }).Findings);
}
