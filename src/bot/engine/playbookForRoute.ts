import type { Route } from '../../pipeline/triage/types.js';

/** The playbooks, by the file they are defined in (deploy/statemachines/<file>.asl.json). */
export const PLAYBOOK_FILES = {
  falco: 'falco-incident',
  forensics: 'ec2-forensics',
  notify: 'notify',
  pod: 'pod-containment',
} as const satisfies Record<string, string>;

export type PlaybookKey = keyof typeof PLAYBOOK_FILES;

/** Which playbook a triage route runs; undefined for `ignore`. One mapping for every engine. */
export function playbookForRoute(route: Route): PlaybookKey | undefined {
  switch (route) {
    case 'forensics':
      return 'forensics';
    case 'notify':
      return 'notify';
    case 'contain-pod':
      return 'pod';
    case 'ignore':
      return undefined;
    default:
      return 'falco';
  }
}
