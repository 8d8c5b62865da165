/** Discord snowflakes: 42 bits of ms since the Discord epoch, worker, process, increment. */
export const DISCORD_EPOCH = 1_420_070_400_000n;

let last = 0n;

/** A new snowflake, strictly greater than every snowflake made before in this process. */
export function snowflake(at: number = Date.now()): string {
  let next = ((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | (1n << 12n);
  if (next <= last) next = last + 1n;
  last = next;
  return next.toString();
}

/** The creation time (ms since the Unix epoch) encoded in a snowflake. */
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

export function isSnowflake(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,20}$/.test(value);
}

/** Discord's timestamp format: `2024-03-15T12:34:56.789000+00:00`. */
export function discordTimestamp(at: number | Date = Date.now()): string {
  const iso = (at instanceof Date ? at : new Date(at)).toISOString(); // 2024-03-15T12:34:56.789Z
  return `${iso.slice(0, 23)}000+00:00`;
}
