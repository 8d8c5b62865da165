import { REST } from '@discordjs/rest';
import { Routes } from 'discord.js';
import { commandDefinitions } from '../../commands/index.js';
import { requireSettings } from '../config.js';
import { DiscordError } from '../errors.js';
import type { CliContext } from './types.js';

/** `sentinel register-commands`: registers /isolate, /unblock and /evidence in the configured guild. */
export async function runRegisterCommands(ctx: CliContext): Promise<number> {
  requireSettings(ctx.config, ['DISCORD_TOKEN', 'DISCORD_APPLICATION_ID', 'DISCORD_GUILD_ID'], 'sentinel register-commands');
  const { token, applicationId, guildId, apiUrl } = ctx.config.discord;
  const rest = new REST({ api: apiUrl }).setToken(token!);
  const body = commandDefinitions();
  try {
    await rest.put(Routes.applicationGuildCommands(applicationId!, guildId!), { body });
  } catch (err) {
    throw new DiscordError(`cannot register the commands: ${(err as Error).message}`, { cause: err });
  }
  ctx.stdout.write(`registered ${body.map((c) => `/${c.name}`).join(', ')} in guild ${guildId}\n`);
  return 0;
}
