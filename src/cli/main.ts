import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { loadConfig, secretValues } from '../config.js';
import { ConfigError, describeError, UserError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { packageRoot } from '../util/packageRoot.js';
import { commandPath, defineCliProgram, type CliJob } from './defineCliProgram.js';
import type { CliContext } from './types.js';

export interface MainIo {
  argv: string[];
  env?: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/**
 * Runs one CLI invocation (commander parses it: defineCliProgram.ts); resolves to the exit
 * status. Help and the version need no settings. Exit status: 0 success (and help), 1 the
 * command failed, 2 usage: an unknown command or option, a bad value, missing or invalid
 * settings. Errors end here, as messages naming the command; unexpected ones are logged too.
 */
export async function main(io: MainIo): Promise<number> {
  let status = 0;
  let command = 'sentinel';
  let logger: Logger | undefined;
  const runJob = async (job: CliJob): Promise<void> => {
    let config;
    try {
      config = loadConfig(io.env ? { env: io.env } : {});
    } catch (err) {
      io.stderr.write(`sentinel: ${describeError(err)}\n`);
      status = 2;
      return;
    }
    logger = createLogger({ level: config.log.level, format: config.log.format, secrets: secretValues(config), stream: io.stderr });
    const ctx: CliContext = {
      config,
      logger,
      stdin: io.stdin as CliContext['stdin'],
      stdout: io.stdout as CliContext['stdout'],
      stderr: io.stderr as CliContext['stderr'],
    };
    status = await job(ctx);
  };
  const program = defineCliProgram({
    version: version(),
    runJob,
    output: { writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) },
  });
  program.hook('preAction', (_program, action) => {
    command = commandPath(action);
  });

  if (io.argv.length === 0) {
    program.outputHelp();
    return 2;
  }
  try {
    await program.parseAsync(io.argv, { from: 'user' });
    return status;
  } catch (err) {
    // Commander has said what was wrong (or printed the help or version) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    io.stderr.write(`${command}: ${describeError(err)}\n`);
    if (err instanceof ConfigError || err instanceof UserError) return 2;
    logger?.error('command failed', { command, error: err });
    return 1;
  }
}
