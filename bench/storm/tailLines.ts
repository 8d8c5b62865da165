import { closeSync, openSync, readSync } from 'node:fs';

export interface LineTail {
  /** Reads what is left and stops. */
  stop(): void;
}

/**
 * Follows a file as it grows (a poll every `intervalMs`), handing each complete line to `onLine`.
 * The bot writes its log to a file rather than a pipe to this process: a pipe is written
 * synchronously on Linux, so a benchmark busy reading it would slow the bot it measures.
 */
export function tailLines(path: string, onLine: (line: string) => void, intervalMs = 100): LineTail {
  const fd = openSync(path, 'r');
  const chunk = Buffer.alloc(1 << 20);
  let offset = 0;
  let partial = '';
  const read = () => {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, offset);
      if (n <= 0) return;
      offset += n;
      const lines = (partial + chunk.subarray(0, n).toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') onLine(line);
    }
  };
  const timer = setInterval(read, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      if (partial !== '') onLine(partial);
      partial = '';
      closeSync(fd);
    },
  };
}
