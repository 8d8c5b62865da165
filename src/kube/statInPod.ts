import { KubernetesError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { execFailure, isMissingPath } from './execFailure.js';
import { execInPod, type ExecTarget } from './execInPod.js';

/** What one path is inside a pod, as `stat` reports it. */
export interface PodEntry {
  size: number;
  /** Permission bits with the set-id and sticky bits (`stat %a`), e.g. `0o1777`. */
  mode: number;
  /** Owner uid. */
  uid: number;
  /** `stat %F`: `regular file`, `regular empty file`, `directory`, `symbolic link`… */
  type: string;
}

const STAT_LINE = /^(\d+) ([0-7]+) (\d+) ([a-z ]+)\n?$/;

export function isRegularFile(entry: PodEntry): boolean {
  return entry.type === 'regular file' || entry.type === 'regular empty file';
}

/**
 * `stat` of a path in a pod (argv only): the entry itself, a symlink reported as one, or with
 * `follow` what it points to. Undefined when it does not exist.
 */
export async function statInPod(kube: KubeClients, target: ExecTarget, path: string, options: { follow?: boolean } = {}): Promise<PodEntry | undefined> {
  const argv = ['stat', ...(options.follow ? ['-L'] : []), '-c', '%s %a %u %F', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const m = STAT_LINE.exec(result.stdout);
  if (!m) throw new KubernetesError(`unexpected output from stat in ${target.namespace}/${target.pod}: ${JSON.stringify(result.stdout.slice(0, 200))}`, { code: 'ExecFailed' });
  return { size: Number(m[1]), mode: parseInt(m[2]!, 8), uid: Number(m[3]), type: m[4]! };
}
