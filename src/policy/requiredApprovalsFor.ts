/**
 * How many different responders must agree before an action runs: two for the actions listed in
 * SENTINEL_TWO_PERSON_ACTIONS, whoever starts them (a playbook's approval or a slash command),
 * one otherwise.
 */
export function requiredApprovalsFor(actionId: string, twoPersonActions: readonly string[]): 1 | 2 {
  return twoPersonActions.includes(actionId) ? 2 : 1;
}
