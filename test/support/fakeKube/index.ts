/** A fake Kubernetes API server for tests, reached by the real @kubernetes/client-node. See README.md. */
export { startFakeKube, DEFAULT_TOKEN } from './server.js';
export type { FakeKube, KubeConfigOptions } from './server.js';
export { FakePod } from './pods.js';
export { ALLOWED_COMMANDS, NOT_FOUND_EXIT_CODE, REFUSED_EXIT_CODE } from './sandbox.js';
export { UNSCHEDULABLE_TAINT_KEY } from './nodes.js';
export { execStatus } from './exec.js';
export type { CustomResourceDefinition } from './customResources.js';
export type {
  AddNodeOptions,
  AddPodDisruptionBudgetOptions,
  AddPodOptions,
  CallRecord,
  ContainerSpec,
  ExecContext,
  ExecHook,
  ExecOverride,
  ExecRecord,
  FailureInjection,
  FakeKubeOptions,
  KubeObject,
  ObjectMeta,
} from './types.js';
