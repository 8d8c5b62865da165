import { addMaliciousIpAction } from './addMaliciousIp.js';
import { analyseArtifactsAction } from './analyseArtifacts.js';
import { annotatePodAction } from './annotatePod.js';
import { captureMemoryAction } from './captureMemory.js';
import { captureNetworkAction } from './captureNetwork.js';
import { collectFromDiskAction } from './collectFromDisk.js';
import { collectPodLogsAction } from './collectPodLogs.js';
import { collectVolatileAction } from './collectVolatile.js';
import { denyEgressAction } from './denyEgress.js';
import { drainNodeAction } from './drainNode.js';
import { extractFileAction } from './extractFile.js';
import { isolateNodeAction } from './isolateNode.js';
import { isolatePodAction } from './isolatePod.js';
import { labelPodAction } from './labelPod.js';
import { preserveDiskAction } from './preserveDisk.js';
import { pullCloudTrailAction } from './pullCloudTrail.js';
import { quarantineFileAction } from './quarantineFile.js';
import { recordIncidentAction } from './recordIncident.js';
import { releaseNodeAction } from './releaseNode.js';
import { releasePodAction } from './releasePod.js';
import { terminatePodAction } from './terminatePod.js';
import type { ActionDefinition, AnyActionDefinition } from './types.js';
import { unblockEgressAction } from './unblockEgress.js';

/**
 * Every pipeline action, by id: what Step Functions tasks, buttons and slash
 * commands can run. docs/permissions.md lists what each needs.
 */
export const ACTIONS = {
  'extract-file': extractFileAction,
  'quarantine-file': quarantineFileAction,
  'deny-egress': denyEgressAction,
  'unblock-egress': unblockEgressAction,
  'isolate-node': isolateNodeAction,
  'release-node': releaseNodeAction,
  'isolate-pod': isolatePodAction,
  'release-pod': releasePodAction,
  'terminate-pod': terminatePodAction,
  'label-pod': labelPodAction,
  'annotate-pod': annotatePodAction,
  'collect-pod-logs': collectPodLogsAction,
  'capture-network': captureNetworkAction,
  'drain-node': drainNodeAction,
  'record-incident': recordIncidentAction,
  'collect-volatile': collectVolatileAction,
  'capture-memory': captureMemoryAction,
  'preserve-disk': preserveDiskAction,
  'collect-disk': collectFromDiskAction,
  'pull-cloudtrail': pullCloudTrailAction,
  analyse: analyseArtifactsAction,
  'add-malicious-ip': addMaliciousIpAction,
} as const satisfies Record<string, AnyActionDefinition>;

export type ActionId = keyof typeof ACTIONS;

export type ActionRegistry = Readonly<Record<string, ActionDefinition>>;

export function isActionId(id: string): id is ActionId {
  return Object.hasOwn(ACTIONS, id);
}

/** The registry as a plain lookup table. */
export function actionRegistry(): ActionRegistry {
  return ACTIONS as unknown as ActionRegistry;
}
