import { ProtectedTargetError } from '../errors.js';

/** Namespaces sentinel never acts on pods in, whatever the settings say. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Whether sentinel must leave pods in this namespace alone (system, or SENTINEL_PROTECTED_NAMESPACES). */
export function isProtectedNamespace(namespace: string, protectedNamespaces: readonly string[]): boolean {
  return SYSTEM_NAMESPACES.includes(namespace) || protectedNamespaces.includes(namespace);
}

/**
 * Refuses system namespaces and configured protected namespaces (ProtectedTargetError, code
 * ProtectedNamespace), before any call: `refusing to <what> in the system namespace kube-system`.
 */
export function checkNamespaceAllowed(namespace: string, protectedNamespaces: readonly string[], what = 'isolate a pod'): void {
  if (SYSTEM_NAMESPACES.includes(namespace)) {
    throw new ProtectedTargetError(`refusing to ${what} in the system namespace ${namespace}`, { code: 'ProtectedNamespace', details: { namespace } });
  }
  if (protectedNamespaces.includes(namespace)) {
    throw new ProtectedTargetError(`refusing to ${what} in the protected namespace ${namespace} (SENTINEL_PROTECTED_NAMESPACES)`, {
      code: 'ProtectedNamespace',
      details: { namespace },
    });
  }
}
