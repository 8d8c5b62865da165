import type { ActionDefinition, AnyActionDefinition } from './types.js';

/**
 * Every pipeline action, by id: what Step Functions tasks, buttons and slash commands can run.
 * docs/permissions.md lists what each needs.
 *
 * Each action's module is imported on its first use, not at start-up: the modules bring the
 * SDKs they need (EC2, SSM, CloudTrail, Auto Scaling, the Kubernetes client), which an idle bot
 * does not (docs/benchmarks.md, Memory). The literal `import()` paths keep them in the build and
 * in the type check.
 */
const LOADERS = {
  'extract-file': async () => (await import('./evidence/extractFile.js')).extractFileAction,
  'quarantine-file': async () => (await import('./containment/quarantineFile.js')).quarantineFileAction,
  'deny-egress': async () => (await import('./containment/denyEgress.js')).denyEgressAction,
  'unblock-egress': async () => (await import('./containment/unblockEgress.js')).unblockEgressAction,
  'isolate-node': async () => (await import('./containment/isolateNode.js')).isolateNodeAction,
  'release-node': async () => (await import('./containment/releaseNode.js')).releaseNodeAction,
  'isolate-pod': async () => (await import('./containment/isolatePod.js')).isolatePodAction,
  'release-pod': async () => (await import('./containment/releasePod.js')).releasePodAction,
  'terminate-pod': async () => (await import('./containment/terminatePod.js')).terminatePodAction,
  'label-pod': async () => (await import('./containment/labelPod.js')).labelPodAction,
  'annotate-pod': async () => (await import('./containment/annotatePod.js')).annotatePodAction,
  'collect-pod-logs': async () => (await import('./evidence/collectPodLogs.js')).collectPodLogsAction,
  'capture-network': async () => (await import('./evidence/captureNetwork.js')).captureNetworkAction,
  'drain-node': async () => (await import('./containment/drainNode.js')).drainNodeAction,
  'record-incident': async () => (await import('./evidence/recordIncident.js')).recordIncidentAction,
  'collect-volatile': async () => (await import('./forensics/collectVolatile.js')).collectVolatileAction,
  'capture-memory': async () => (await import('./forensics/captureMemory.js')).captureMemoryAction,
  'preserve-disk': async () => (await import('./forensics/preserveDisk.js')).preserveDiskAction,
  'collect-disk': async () => (await import('./forensics/collectFromDisk.js')).collectFromDiskAction,
  'pull-cloudtrail': async () => (await import('./forensics/pullCloudTrail.js')).pullCloudTrailAction,
  analyse: async () => (await import('./forensics/analyseArtifacts.js')).analyseArtifactsAction,
  'add-malicious-ip': async () => (await import('./forensics/addMaliciousIp.js')).addMaliciousIpAction,
} as const satisfies Record<string, () => Promise<AnyActionDefinition>>;

export type ActionId = keyof typeof LOADERS;

/** Loads one action's definition (its module). */
export type ActionLoader = () => Promise<AnyActionDefinition>;

/** An action as the registry holds it: its id now, its definition (module) on first use. */
export interface RegisteredAction {
  readonly id: string;
  /**
   * The action's definition, its module imported on the first call. Concurrent first calls share
   * one import; a failed import is not kept, so a later call tries again.
   */
  load(): Promise<ActionDefinition>;
}

export type ActionRegistry = Readonly<Record<string, RegisteredAction>>;

export function isActionId(id: string): id is ActionId {
  return Object.hasOwn(LOADERS, id);
}

/** One registered action over a loader, loading at most once at a time and keeping what it loaded. */
function registerAction(id: string, loader: ActionLoader): RegisteredAction {
  let loading: Promise<ActionDefinition> | undefined;
  const load = (): Promise<ActionDefinition> => {
    loading ??= loader().then(
      (definition) => {
        if (definition.id !== id) throw new Error(`the action registered as ${id} is defined as ${definition.id}`);
        return definition as ActionDefinition;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    );
    return loading;
  };
  return Object.freeze({ id, load });
}

/** A registry over the given loaders (actionRegistry() gives sentinel's own). */
export function createActionRegistry(loaders: Readonly<Record<string, ActionLoader>>): ActionRegistry {
  // No prototype: an action named like an Object.prototype property (constructor, toString) is unknown, not a function.
  const registry = Object.create(null) as Record<string, RegisteredAction>;
  for (const [id, loader] of Object.entries(loaders)) registry[id] = registerAction(id, loader);
  return Object.freeze(registry);
}

/** Sentinel's actions, none loaded yet: made once by the composition root and passed in. */
export function actionRegistry(): ActionRegistry {
  return createActionRegistry(LOADERS);
}

/** Every action of a registry, loaded (tests, documentation checks: whatever needs all of them at once). */
export async function loadAllActions(registry: ActionRegistry = actionRegistry()): Promise<Readonly<Record<string, ActionDefinition>>> {
  const entries = await Promise.all(Object.values(registry).map(async (action) => [action.id, await action.load()] as const));
  return Object.freeze(Object.fromEntries(entries));
}
