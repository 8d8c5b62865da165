/**
 * The embedded engine in a child process, so a test can kill it the way an outage does (SIGKILL:
 * no shutdown, no cleanup). Usage: engineChild.ts <engine dir> <execution name> <input json file> <label to hang on>.
 * It starts the execution (route from the input), answers every control message as the bot would
 * (engineHarness.defaultReply), except that it never finishes handling the first message with the
 * given label; each delivery is printed as one JSON line on stdout.
 */
import { readFile } from 'node:fs/promises';
import { createEmbeddedEngine } from '../../../../src/bot/engine/embeddedEngine.js';
import { parseMessage } from '../../../../src/handlers/messages.js';
import { createSilentLogger } from '../../../../src/logger.js';
import type { Route } from '../../../../src/pipeline/triage/types.js';
import { defaultReply, labelOf, type Delivery } from '../engineHarness.js';

const [dir, name, inputFile, hangOn] = process.argv.slice(2) as [string, string, string, string];
const input = JSON.parse(await readFile(inputFile, 'utf8')) as { route: Route };
const engine = await createEmbeddedEngine({ dir, logger: createSilentLogger() });
engine.onMessage(async (message) => {
  const parsed = parseMessage(message.body);
  if (!parsed.ok) return 'done';
  const label = labelOf(parsed.parsed);
  process.stdout.write(`${JSON.stringify({ label, id: message.id, receiveCount: message.receiveCount })}\n`);
  if (label === hangOn) await new Promise(() => undefined);
  const body = JSON.parse(message.body!) as { taskToken?: string };
  const reply = defaultReply({ parsed: parsed.parsed } as Delivery);
  if (body.taskToken && typeof reply === 'object' && 'output' in reply) {
    await engine.heartbeat(body.taskToken);
    await engine.taskSucceeded(body.taskToken, reply.output);
  }
  return 'done';
});
await engine.start(input.route, name, input);
process.stdout.write(`${JSON.stringify({ started: name })}\n`);
