import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { packageRoot } from '../util/packageRoot.js';
import { QUEUE_URL_PLACEHOLDER } from './desired.js';

export { QUEUE_URL_PLACEHOLDER };
const ASL_SUFFIX = '.asl.json';

export interface StateMachineDefinition {
  /** The file name without `.asl.json`: `falco-incident`, `ec2-forensics`, `notify`. */
  name: string;
  /** The ASL document as JSON text, `${ControlQueueUrl}` substituted: what CreateStateMachine takes. */
  definition: string;
}

/** Replaces `${ControlQueueUrl}` in every string value; any other `${…}` (in a key or a value) is refused. */
function substitute(value: unknown, queueUrl: string, file: string): unknown {
  const check = (s: string) => {
    const other = [...s.matchAll(/\$\{[^}]*\}/g)].map((m) => m[0]).find((p) => p !== QUEUE_URL_PLACEHOLDER);
    if (other) throw new ConfigError(`${file}: unknown placeholder ${other} (only ${QUEUE_URL_PLACEHOLDER} is substituted)`);
  };
  if (typeof value === 'string') {
    check(value);
    return value.split(QUEUE_URL_PLACEHOLDER).join(queueUrl);
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, queueUrl, file));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        if (k.includes(QUEUE_URL_PLACEHOLDER)) throw new ConfigError(`${file}: ${QUEUE_URL_PLACEHOLDER} in a key (it is only substituted in string values)`);
        check(k);
        return [k, substitute(v, queueUrl, file)];
      }),
    );
  }
  return value;
}

/**
 * Every `deploy/statemachines/*.asl.json` (sorted by name) with `${ControlQueueUrl}` replaced by the
 * bot's queue URL in string values, ready for CreateStateMachine / UpdateStateMachine. Throws
 * ConfigError for an empty queue URL, a file that is not JSON, or another placeholder.
 */
export async function loadStateMachineDefinitions(queueUrl: string, dir: string = join(packageRoot(), 'deploy', 'statemachines')): Promise<StateMachineDefinition[]> {
  if (!/^https?:\/\/\S+$/.test(queueUrl)) throw new ConfigError(`the queue URL ${JSON.stringify(queueUrl.slice(0, 200))} is not an http(s) URL`);
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(ASL_SUFFIX)).sort();
  } catch (err) {
    throw new ConfigError(`cannot read the state machine directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!files.length) throw new ConfigError(`no *${ASL_SUFFIX} state machine definitions in ${dir}`);
  return Promise.all(
    files.map(async (file) => {
      const path = join(dir, file);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(path, 'utf8'));
      } catch (err) {
        throw new ConfigError(`cannot read state machine definition ${path}: ${(err as Error).message}`, { cause: err });
      }
      return { name: file.slice(0, -ASL_SUFFIX.length), definition: JSON.stringify(substitute(parsed, queueUrl, file)) };
    }),
  );
}
