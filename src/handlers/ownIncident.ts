import type { IncidentState } from '../stores/incidentStore.js';
import { executionNameFor } from './executionName.js';

/**
 * The execution an incident belongs to: the one recorded when its playbook started, or the
 * name it is started under (derived from its dedupe key and window, so it is known even
 * before the start is recorded).
 */
export function executionOf(incident: IncidentState): string {
  return incident.executionName ?? executionNameFor(incident.dedupeKey, new Date(incident.windowStart));
}

/**
 * Why a playbook message from `executionName` may not update `incident`, or undefined when it
 * may: a playbook updates only its own incident.
 */
export function refuseForeignIncident(incident: IncidentState, executionName: string | undefined): string | undefined {
  if (!executionName) return 'the message does not name the execution that sent it';
  const own = executionOf(incident);
  return executionName === own ? undefined : `execution ${executionName} may not update incident ${incident.incidentId}, which belongs to execution ${own}`;
}
