// Preload (node --import) for `npm run bench:memory -- --modules` and test/bot/startUpModules.test.ts:
// records which modules a process loads. ES modules through a resolve hook (in the hooks thread),
// CommonJS ones (and ES modules loaded by require) from require's cache when the process exits;
// both into the file named by SENTINEL_BENCH_MODULES_FILE, one path or URL a line.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.SENTINEL_BENCH_MODULES_FILE;
if (file) {
  register('./recordModulesHooks.mjs', import.meta.url, { data: { file } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const cjs = Object.keys(require.cache).map((p) => `cjs ${p}`);
    if (cjs.length > 0) appendFileSync(file, `${cjs.join('\n')}\n`);
  });
}
