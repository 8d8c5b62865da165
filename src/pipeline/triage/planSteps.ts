import type { Route } from './types.js';

/**
 * The ordered plan of each route, by pipeline action id. `on-block:` runs only when a person chooses
 * Block. `hasPod` and `hasNode` (the event names a pod, a node or instance) shape `contain-pod`.
 */
export function planSteps(route: Route, opts: { hasIoc: boolean; hasArtifact: boolean; ambiguousArtifact?: boolean; hasPod?: boolean; hasNode?: boolean }): string[] {
  switch (route) {
    case 'file-artifact':
      if (opts.hasArtifact) return ['extract-file', 'quarantine-file', 'record-incident', 'report'];
      // Several readings of the file path: a person decides; Block contains every candidate inside the roots.
      if (opts.ambiguousArtifact) return ['request-approval', 'on-block:extract-file', 'on-block:quarantine-file', 'record-incident', 'report'];
      return ['record-incident', 'report'];
    case 'block-egress':
      return opts.hasIoc ? ['deny-egress', 'record-incident', 'report'] : ['record-incident', 'report'];
    case 'isolate-node':
      return ['isolate-node', 'record-incident', 'report'];
    case 'approval':
      return ['request-approval', 'on-block:isolate-node', 'record-incident', 'report'];
    case 'record':
      return ['record-incident', 'report'];
    case 'forensics':
      return [
        'notify',
        ...(opts.hasIoc ? ['deny-egress', 'add-malicious-ip'] : []),
        'collect-volatile',
        'capture-memory',
        'preserve-disk',
        'isolate-instance',
        'collect-disk',
        'pull-cloudtrail',
        'analyse',
        'record-incident',
        'report',
      ];
    case 'notify':
      return ['notify'];
    // The pod playbook (pod-containment): each step only when the event gives what it needs; the
    // node is asked about whenever it is known (from the event, or from the pod once isolated).
    case 'contain-pod':
      return [
        ...(opts.hasPod ? ['isolate-pod'] : []),
        ...(opts.hasPod && opts.hasArtifact ? ['extract-file', 'quarantine-file'] : []),
        ...(opts.hasIoc ? ['deny-egress'] : []),
        ...(opts.hasPod || opts.hasNode ? ['request-approval', 'on-block:isolate-node'] : []),
        'record-incident',
        'report',
      ];
    // Falcosidekick's test event: the bot says the wiring works; no incident, no playbook.
    case 'test':
    case 'ignore':
      return [];
  }
}
