/** Step Functions' limit on a task's output (and an execution's input). */
export const TASK_OUTPUT_LIMIT_BYTES = 256 * 1024;

/**
 * A task's output as the engine stores it: JSON of at most 256 KiB; a larger output is replaced by
 * `{truncated: true, note, summary}` (its summary kept), so the playbook goes on with what fits.
 */
export function serializeTaskOutput(output: object): string {
  const s = JSON.stringify(output);
  if (Buffer.byteLength(s) <= TASK_OUTPUT_LIMIT_BYTES) return s;
  return JSON.stringify({ truncated: true, note: 'output exceeded 256 KiB', summary: (output as { summary?: unknown }).summary ?? null });
}
