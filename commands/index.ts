import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { evidenceCommand } from './evidence.js';
import { isolateCommand } from './isolate.js';
import { unblockCommand } from './unblock.js';

/** Every slash command sentinel registers, by name. */
export const COMMANDS = {
  isolate: isolateCommand,
  unblock: unblockCommand,
  evidence: evidenceCommand,
} as const;

export type CommandName = keyof typeof COMMANDS;

/** The JSON bodies to register with Discord. */
export function commandDefinitions(): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return Object.values(COMMANDS).map((c) => c.toJSON());
}
