import type { FakeContext } from '../context.js';
import { registerChannelRoutes } from './channels.js';
import { registerCommandRoutes } from './commands.js';
import { registerGuildRoutes } from './guilds.js';
import { registerInteractionRoutes } from './interactions.js';
import { registerUserRoutes } from './users.js';

export function registerRoutes(ctx: FakeContext): void {
  registerUserRoutes(ctx);
  registerChannelRoutes(ctx);
  registerGuildRoutes(ctx);
  registerCommandRoutes(ctx);
  registerInteractionRoutes(ctx);
}
