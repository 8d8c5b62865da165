import { ConfigError } from '../errors.js';

/**
 * Checks SENTINEL_TWO_PERSON_ACTIONS against the ids sentinel knows (the action registry and the
 * decisions playbooks ask about without an action, such as waive-memory-capture). A misspelt id
 * would silently leave that action to one person, so an unknown one stops start-up with a
 * ConfigError naming it and every known id.
 */
export function checkTwoPersonActions(configured: readonly string[], knownIds: readonly string[]): void {
  const known = new Set(knownIds);
  const unknown = [...new Set(configured.filter((id) => !known.has(id)))];
  if (unknown.length === 0) return;
  const list = [...known].sort();
  throw new ConfigError(
    `SENTINEL_TWO_PERSON_ACTIONS names ${unknown.length === 1 ? 'an unknown action' : 'unknown actions'}: ${unknown.join(', ')}. ` +
      `Known ids: ${list.join(', ')}. (An unknown id would silently leave that action to one person, so sentinel does not start.)`,
    { code: 'UnknownTwoPersonAction', details: { unknown, known: list } },
  );
}
