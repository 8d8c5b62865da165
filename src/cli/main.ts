import { parseArgs } from 'node:util';
import { loadConfig, secretValues, type Config } from '../config.js';
import { ConfigError, describeError, UserError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { CliCommand, CliContext } from './types.js';

const commands = {
  triage: {
    summary: 'classify Falco and GuardDuty events (files or stdin, JSON or NDJSON)',
    usage: 'sentinel triage [--json] [FILE...]',
    async run(args, ctx) {
      const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true });
      const { runTriage } = await import('./triageCommand.js');
      return runTriage({ json: values.json ?? false, files: positionals }, ctx);
    },
  },
  start: {
    summary: 'run the bot: SQS intake, Discord approvals and commands, health and metrics',
    usage: 'sentinel start',
    async run(args, ctx) {
      parseArgs({ args, options: {}, allowPositionals: false });
      const { runStart } = await import('./startCommand.js');
      return runStart(ctx);
    },
  },
  'register-commands': {
    summary: 'register the slash commands (/isolate, /unblock, /evidence) in the guild',
    usage: 'sentinel register-commands',
    async run(args, ctx) {
      parseArgs({ args, options: {}, allowPositionals: false });
      const { runRegisterCommands } = await import('./registerCommandsCommand.js');
      return runRegisterCommands(ctx);
    },
  },
  provision: {
    summary: 'create or update the queue, DLQ, GuardDuty rule, state machines and evidence bucket (idempotent)',
    usage: 'sentinel provision [--dry-run] [--prefix NAME]',
    async run(args, ctx) {
      const { values } = parseArgs({
        args,
        options: { 'dry-run': { type: 'boolean', default: false }, prefix: { type: 'string' } },
        allowPositionals: false,
      });
      const { runProvision } = await import('./provisionCommand.js');
      return runProvision({ dryRun: values['dry-run'] ?? false, prefix: values.prefix }, ctx);
    },
  },
  dlq: {
    summary: "show the queues' dead letters with why each failed (list), move them back (replay)",
    usage: 'sentinel dlq list|replay [options]',
    async run(args, ctx) {
      const { runDlqCommand } = await import('./dlqCommand.js');
      return runDlqCommand(args, ctx);
    },
  },
  send: {
    summary: "post events from files (Falco, Falcosidekick, GuardDuty; JSON or NDJSON) to a running sentinel's webhook",
    usage: 'sentinel send [--url URL] [--token TOKEN] FILE...',
    async run(args, ctx) {
      const { runSendCommand } = await import('./sendCommand.js');
      return runSendCommand(args, ctx);
    },
  },
} satisfies Record<string, CliCommand>;

type CommandName = keyof typeof commands;

function usage(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length)) + 2;
  const lines = Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}${c.summary}`);
  return `usage: sentinel <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export interface MainIo {
  argv: string[];
  env?: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Runs one CLI invocation; resolves to the exit status. Errors end here, as messages. */
export async function main(io: MainIo): Promise<number> {
  const [name, ...args] = io.argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (!(name in commands)) {
    io.stderr.write(`sentinel: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(io.env ? { env: io.env } : {});
  } catch (err) {
    io.stderr.write(`sentinel: ${describeError(err)}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level, format: config.log.format, secrets: secretValues(config), stream: io.stderr });
  const ctx: CliContext = {
    config,
    logger,
    stdin: io.stdin as CliContext['stdin'],
    stdout: io.stdout as CliContext['stdout'],
    stderr: io.stderr as CliContext['stderr'],
  };
  try {
    return await commands[name as CommandName].run(args, ctx);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UserError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`sentinel ${name}: ${describeError(err)}\n`);
      return 2;
    }
    logger.error('command failed', { command: name, error: err });
    io.stderr.write(`sentinel ${name}: ${describeError(err)}\n`);
    return 1;
  }
}
