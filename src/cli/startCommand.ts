import { startBot } from '../bot/startBot.js';
import type { CliContext } from './types.js';

/** `sentinel start`: runs the bot until SIGTERM or SIGINT, then stops cleanly (finishing what is in flight). */
export async function runStart(ctx: CliContext, signals: NodeJS.EventEmitter = process): Promise<number> {
  const bot = await startBot(ctx.config, ctx.logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      ctx.logger.info('stopping', { signal });
      signals.off('SIGTERM', onSignal);
      signals.off('SIGINT', onSignal);
      resolve();
    };
    signals.on('SIGTERM', onSignal);
    signals.on('SIGINT', onSignal);
  });
  await bot.stop();
  return 0;
}
