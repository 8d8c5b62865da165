/**
 * sentinel's commands, their options and their help, as commander definitions: `sentinel --help`,
 * `sentinel <command> --help` and `sentinel help <command>` are generated from them, so the help
 * says exactly what is parsed. Each action checks what it can without settings, then hands its
 * job to `runJob`, which loads the settings and runs it (main.ts). The commands' modules are
 * loaded only when they run.
 */
import { Command, type OutputConfiguration } from 'commander';
import { UserError } from '../errors.js';
import { parseQueueOption } from './dlq/parseQueueOption.js';
import type { CliContext } from './types.js';

/** What a command does once its options are parsed and the settings are loaded; resolves to the exit status. */
export type CliJob = (ctx: CliContext) => Promise<number>;

export interface CliProgramOptions {
  version: string;
  runJob: (job: CliJob) => Promise<void>;
  output: Required<Pick<OutputConfiguration, 'writeOut' | 'writeErr'>>;
}

/** A command as typed: `sentinel dlq list`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

const DLQ_NOTES = `
list reads the DLQ of the intake queue, the control queue or both (the default) and says why each
message failed as the bot recorded it; nothing is deleted.
replay --all: SQS's own redrive (StartMessageMoveTask) moves every message back to its queue.
replay --id: re-sends one intake message (same body and attributes), then deletes it from the DLQ.
replay --all --resend (with --queue intake): re-sends every intake message that way.
Control messages are only moved by SQS's redrive: re-sent by hand they would carry your SenderId,
and the bot refuses them. --dry-run says what replay would do and changes nothing.`;

const SEND_NOTES = `
Prints one line per event: <HTTP status> <file>:<line> <backlog id, or the webhook's reason>
("error" instead of a status when the event was not read or not sent). A full backlog (429) is
retried after the Retry-After the webhook gives, up to 5 times.
Exit status: 0 every event accepted (202), 1 any refused or not sent, 2 usage.`;

export function defineCliProgram(options: CliProgramOptions): Command {
  const { runJob } = options;
  const program = new Command('sentinel')
    .usage('<command> [options]')
    .description('sentinel: Discord ChatOps SOAR for AWS and Kubernetes.')
    .configureOutput(options.output)
    .configureHelp({
      styleTitle: (title) => title.toLowerCase(),
      // The command list shows each command's whole usage line.
      subcommandTerm: (cmd) => `${commandPath(cmd)} ${cmd.usage()}`.trimEnd(),
    })
    .exitOverride()
    .showSuggestionAfterError()
    .version(`sentinel ${options.version}`, '-V, --version', 'print the version')
    .addHelpText('after', '\nsentinel <command> --help says more; sentinel --version prints the version.');

  program
    .command('version', { hidden: true })
    .description('print the version')
    .action(() => options.output.writeOut(`sentinel ${options.version}\n`));

  program
    .command('triage')
    .summary('classify Falco and GuardDuty events (files or stdin: JSON, NDJSON or Falco text lines); --explain says which playbook rule matched and why')
    .description(
      'Classifies each event (Falco or Falcosidekick JSON, GuardDuty findings, Fluent Bit records, Falco text lines) by the playbook rules and prints one line per event, in order. Falco\'s own log lines are skipped with a note. Exit status: 0 all triaged, 1 any event not triaged, 2 usage.',
    )
    .usage('[--json] [--explain] [FILE...]')
    .argument('[FILE...]', 'files of events; stdin when none')
    .option('--json', 'one JSON object per event')
    .option('--explain', 'say which playbook rule matched and why, and which did not')
    .action((files: string[], opts: { json?: boolean; explain?: boolean }) =>
      runJob(async (ctx) => (await import('./triageCommand.js')).runTriage({ json: opts.json === true, explain: opts.explain === true, files }, ctx)),
    );

  program
    .command('start')
    .summary('run the bot, embedded (only the Discord settings) or on AWS (the AWS settings too): intake, playbooks, Discord approvals and commands, health and metrics')
    .description('Runs the bot until SIGTERM or SIGINT, then stops cleanly, finishing what is in flight. Embedded when only the Discord settings are set; on AWS with the AWS settings too.')
    .action(() => runJob(async (ctx) => (await import('./startCommand.js')).runStart(ctx)));

  program
    .command('register-commands')
    .summary('register the slash commands (/isolate, /unblock, /evidence) in the guild')
    .description('Registers the slash commands /isolate, /unblock and /evidence in the guild DISCORD_GUILD_ID.')
    .action(() => runJob(async (ctx) => (await import('./registerCommandsCommand.js')).runRegisterCommands(ctx)));

  program
    .command('provision')
    .summary('create or update the queue, DLQ, GuardDuty rule, state machines and evidence bucket (idempotent)')
    .description(
      "Creates or updates the intake and control queues (each with its DLQ and policy), the GuardDuty EventBridge rule, sentinel's SSM documents, the state machines and the evidence bucket; prints one line per resource, then the settings for the bot's .env. Idempotent.",
    )
    .usage('[--dry-run] [--prefix NAME]')
    .option('--dry-run', 'only read, and say what would change')
    .option('--prefix <NAME>', 'the resources\' name prefix (default SENTINEL_PROVISION_PREFIX)')
    .action((opts: { dryRun?: boolean; prefix?: string }) =>
      runJob(async (ctx) => (await import('./provisionCommand.js')).runProvision({ dryRun: opts.dryRun === true, prefix: opts.prefix }, ctx)),
    );

  const dlq = program
    .command('dlq')
    .summary("show the queues' dead letters with why each failed (list), move them back (replay)")
    .description("The intake and control queues' dead letters: what is there and why each failed (list), and moving them back (replay).")
    .usage('list|replay [options]')
    .addHelpText('after', DLQ_NOTES)
    // No subcommand, or one that is not list or replay.
    .allowExcessArguments()
    .action((_opts: unknown, self: Command) => {
      const sub = self.args[0];
      const usage = dlq.commands.map((c) => `${commandPath(c)} ${c.usage()}`).join(' | ');
      throw new UserError(`expected "list" or "replay"${sub ? `, not ${JSON.stringify(sub)}` : ''}\nusage: ${usage}`);
    });
  dlq
    .command('list')
    .summary("the messages on the DLQ(s) and why each failed; nothing is deleted")
    .description("Lists the messages on the DLQ(s) with why each failed, as the bot recorded it (never a body). Nothing is deleted.")
    .usage('[--queue intake|control] [--json]')
    .option('--queue <queue>', 'intake or control: that queue\'s DLQ only (default: both)')
    .option('--json', 'the listing as JSON')
    .action((opts: { queue?: string; json?: boolean }) => {
      const queue = parseQueueOption(opts.queue);
      return runJob(async (ctx) => (await import('./dlqCommand.js')).runDlqList({ ...queue, json: opts.json === true }, ctx));
    });
  dlq
    .command('replay')
    .summary("move dead letters back: SQS's redrive (--all), or re-send intake messages (--id, --all --resend)")
    .description('Moves dead letters back: every one with SQS\'s redrive (--all), or re-sends intake messages one by one (--id, --all --resend).')
    .usage('[--queue intake|control] (--id MESSAGE_ID | --all [--resend]) [--dry-run]')
    .option('--queue <queue>', 'intake or control: that queue\'s DLQ only (default: both)')
    .option('--id <MESSAGE_ID>', 're-send this one intake message, then delete it from the DLQ')
    .option('--all', 'every message: SQS\'s redrive, or with --resend one by one')
    .option('--resend', 'with --all and --queue intake: re-send each message instead of the redrive')
    .option('--dry-run', 'say what would be done and change nothing')
    .action((opts: { queue?: string; id?: string; all?: boolean; resend?: boolean; dryRun?: boolean }) => {
      const queue = parseQueueOption(opts.queue);
      return runJob(async (ctx) =>
        (await import('./dlqCommand.js')).runDlqReplay(
          { ...queue, ...(opts.id !== undefined ? { id: opts.id } : {}), all: opts.all === true, resend: opts.resend === true, dryRun: opts.dryRun === true },
          ctx,
        ),
      );
    });

  program
    .command('send')
    .summary("post events from files (Falco, Falcosidekick, GuardDuty; JSON or NDJSON) to a running sentinel's webhook")
    .description(
      "Posts each event in the files to a running sentinel's webhook, one request per event, in order. A FILE holds Falco or Falcosidekick JSON, GuardDuty findings (EventBridge events) or Fluent Bit records: one JSON document, a JSON array, NDJSON, or documents one after another.",
    )
    .usage('[--url URL] [--token TOKEN] FILE...')
    .argument('[FILE...]', 'files of events; "-" reads stdin')
    .option('--url <URL>', 'the webhook; default http://127.0.0.1:<SENTINEL_WEBHOOK_PORT>/events (a URL without a path gets /events)')
    .option('--token <TOKEN>', 'the shared secret sent in X-Sentinel-Token; default SENTINEL_WEBHOOK_TOKEN (prefer the variable: other users can see a command line)')
    .addHelpText('after', SEND_NOTES)
    .action((files: string[], opts: { url?: string; token?: string }) => runJob(async (ctx) => (await import('./sendCommand.js')).runSendCommand({ ...opts, files }, ctx)));

  // Usage errors name the command they belong to; the top level shows its usage after one.
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(program)) {
    const name = commandPath(cmd);
    cmd.configureOutput({ ...options.output, outputError: (text, write) => write(`${name}: ${text.replace(/^error: /, '')}`) });
    if (cmd !== program) cmd.showHelpAfterError(`(${name} --help says more)`);
  }
  program.showHelpAfterError(true);
  return program;
}
