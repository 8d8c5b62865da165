import { loadConfig, type PipelineSettings } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import type { ActionDeps } from '../../src/pipeline/actions/types.js';

/** Pipeline settings as a fresh install has them, with overrides. */
export function testSettings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return { ...loadConfig({ env: {}, envFile: false }).pipeline, ...overrides };
}

/** Action deps for tests: real clients passed in, quiet logger, settable clock. */
export function testDeps(parts: Partial<ActionDeps> & Pick<ActionDeps, 'aws'>): ActionDeps {
  return {
    settings: testSettings(),
    logger: createSilentLogger(),
    now: () => new Date(),
    ...parts,
  };
}
