import type { Readable, Writable } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export interface CliContext {
  config: Config;
  logger: Logger;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}
