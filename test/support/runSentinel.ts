/** `sentinel` from the sources (run with `node --import tsx`), for tests that need the bot in a process of its own. */
import { main } from '../../src/cli/main.js';

main({ argv: process.argv.slice(2), stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sentinel: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
