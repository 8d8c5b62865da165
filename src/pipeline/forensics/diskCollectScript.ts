import { ValidationError } from '../../errors.js';
import { validateWebRoots } from './volatileCommands.js';

/**
 * The parameters of sentinel's SSM document `workstation-collect-disk`
 * (deploy/ssm/workstation-collect-disk.json): the fixed script that runs on the forensic
 * workstation to mount evidence volumes read-only, collect, upload one bundle once and unmount
 * (also on failure). Pure checking, apart from the I/O of the collect-disk action
 * (src/pipeline/actions/forensics/collectFromDisk.ts), so it tests without backends.
 */

/** Device names evidence volumes are attached at, in order of preference. */
export const DEVICE_NAMES = ['/dev/sdf', '/dev/sdg', '/dev/sdh', '/dev/sdi', '/dev/sdj', '/dev/sdk', '/dev/sdl', '/dev/sdm', '/dev/sdn', '/dev/sdo', '/dev/sdp'] as const;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const VOLUME_ID = /^vol-[0-9a-f]{8,17}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** S3 allows one PUT of at most 5 GiB: the document uploads the bundle with one conditional PUT and refuses a larger one. */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024 * 1024;

export interface CollectScriptParams {
  incident: string;
  sourceInstanceId: string;
  bucket: string;
  key: string;
  region: string;
  /** In mount order: n (1-based), volume id, device name. */
  volumes: readonly { n: number; volumeId: string; device: string }[];
  webRoots: readonly string[];
  maxFileKiB: number;
}

function checked(name: string, value: string, ok: boolean): string {
  if (!ok) throw new ValidationError(`refusing to send ${name} ${JSON.stringify(value)} to the collection document`, { code: 'UnsafeScriptValue' });
  return value;
}

/**
 * The document's parameters, each checked against an allowlist here (and then against the
 * document's own allowedPattern before sending); the document's script reads them as
 * environment variables and checks them once more. Volumes are `n:volume-id:device` separated by
 * single spaces, web roots absolute paths separated by single spaces.
 */
export function collectDiskParameters(p: CollectScriptParams, timeoutSeconds: number): Record<string, string> {
  const volumes = p.volumes.map((v) =>
    checked('volume', `${v.n}:${v.volumeId}:${v.device}`, Number.isInteger(v.n) && v.n >= 1 && v.n <= DEVICE_NAMES.length && VOLUME_ID.test(v.volumeId) && (DEVICE_NAMES as readonly string[]).includes(v.device)),
  );
  return {
    incident: checked('incident', p.incident, /^[A-Za-z0-9_-]{1,64}$/.test(p.incident)),
    sourceInstanceId: checked('instance id', p.sourceInstanceId, INSTANCE_ID.test(p.sourceInstanceId)),
    bucket: checked('bucket', p.bucket, BUCKET.test(p.bucket)),
    key: checked('key', p.key, /^[A-Za-z0-9._/-]{1,512}$/.test(p.key) && !p.key.split('/').some((s) => s === '..' || s === '.' || s === '')),
    region: checked('region', p.region, REGION.test(p.region)),
    volumes: checked('volumes', volumes.join(' '), volumes.length >= 1),
    // Checked strictly, without trailing slashes and duplicates (throws ValidationError InvalidWebRoot).
    webRoots: validateWebRoots(p.webRoots).join(' '),
    maxFileKiB: checked('file size limit', String(p.maxFileKiB), Number.isSafeInteger(p.maxFileKiB) && p.maxFileKiB >= 1 && p.maxFileKiB <= 4 * 1024 * 1024),
    executionTimeout: checked('timeout', String(timeoutSeconds), Number.isSafeInteger(timeoutSeconds) && timeoutSeconds >= 1 && timeoutSeconds <= 172_800),
  };
}
