import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { loadStateMachineDefinitions } from '../../provision/loadStateMachines.js';
import { packageRoot } from '../../util/packageRoot.js';
import { StateMachine } from './aslInterpreter.js';
import { EMBEDDED_QUEUE_URL, prepareEmbeddedPlaybook, type EmbeddedPlaybook } from './prepareEmbeddedPlaybook.js';

/** Where the playbooks live: the same files `sentinel provision` deploys to Step Functions. */
export function defaultPlaybookDir(): string {
  return join(packageRoot(), 'deploy', 'statemachines');
}

/**
 * Checks and prepares one definition text for the embedded engine: the interpreter's own ASL
 * validation (asl-validator, as `new StateMachine` runs it), then the engine's checks.
 */
export function embeddedPlaybookFrom(name: string, text: string): EmbeddedPlaybook {
  const playbook = prepareEmbeddedPlaybook(name, text);
  try {
    new StateMachine(JSON.parse(text));
  } catch (err) {
    throw new ConfigError(`${name}.asl.json is not a valid state machine: ${(err as Error).message}`, { cause: err, code: 'InvalidPlaybook' });
  }
  return playbook;
}

/**
 * Every `*.asl.json` in `dir` (deploy/statemachines by default), read by the same loader
 * `sentinel provision` uses, with `${ControlQueueUrl}` standing for the in-process control queue.
 * Throws ConfigError naming the file and state of anything the embedded engine cannot run.
 */
export async function loadEmbeddedPlaybooks(dir: string = defaultPlaybookDir()): Promise<Map<string, EmbeddedPlaybook>> {
  const definitions = await loadStateMachineDefinitions(EMBEDDED_QUEUE_URL, dir);
  return new Map(definitions.map((d) => [d.name, embeddedPlaybookFrom(d.name, d.definition)]));
}
