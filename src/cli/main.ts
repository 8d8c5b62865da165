import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, secretValues, type Config } from '../config.js';
import { ConfigError, describeError, UserError } from '../errors.js';
import { createLogger } from '../logger.js';
import { packageRoot } from '../util/packageRoot.js';
import type { CliCommand, CliContext } from './types.js';

const commands = {
  triage: {
    summary: 'classify Falco and GuardDuty events (files or stdin: JSON, NDJSON or Falco text lines); --explain says which playbook rule matched and why',
    usage: 'sentinel triage [--json] [--explain] [FILE...]',
    async run(args, ctx) {
      const { values, positionals } = parseArgs({
        args,
        options: { json: { type: 'boolean', default: false }, explain: { type: 'boolean', default: false } },
        allowPositionals: true,
      });
      const { runTriage } = await import('./triageCommand.js');
      return runTriage({ json: values.json ?? false, explain: values.explain ?? false, files: positionals }, ctx);
    },
  },
  start: {
    summary: 'run the bot, embedded (only the Discord settings) or on AWS (the AWS settings too): intake, playbooks, Discord approvals and commands, health and metrics',
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
  return `usage: sentinel <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nsentinel <command> --help says more; sentinel --version prints the version.\n`;
}

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

/** `sentinel <command> --help`: its usage and what it does (commands with options of their own print more themselves). */
function commandHelp(command: CliCommand): string {
  return `usage: ${command.usage}\n\n${command.summary}\n`;
}

const SELF_HELP = new Set<string>(['send', 'dlq']);

/** Runs one CLI invocation; resolves to the exit status. Errors end here, as messages. */
export async function main(io: MainIo): Promise<number> {
  const [name, ...args] = io.argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout.write(`sentinel ${version()}\n`);
    return 0;
  }
  if (!Object.hasOwn(commands, name)) {
    io.stderr.write(`sentinel: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  // Help needs no configuration: it works before anything is set up.
  if (!SELF_HELP.has(name) && args.some((a) => a === '--help' || a === '-h')) {
    io.stdout.write(commandHelp(commands[name as CommandName]));
    return 0;
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
