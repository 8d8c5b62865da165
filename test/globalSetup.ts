/**
 * vitest globalSetup: one moto_server for the whole run, shared by every test file.
 * Test files reach it through `inject('motoEndpoint')` (see test/support/aws.ts).
 */
import type { TestProject } from 'vitest/node';
import { ensureMotoVenv } from './support/moto/ensureMotoVenv.js';
import { startMoto } from './support/moto/startMoto.js';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const venv = await ensureMotoVenv();
  const moto = await startMoto({ python: venv.python });
  project.provide('motoEndpoint', moto.endpoint);
  return async () => {
    await moto.stop();
  };
}
