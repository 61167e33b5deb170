import type { Io } from './command.js';

/** Progress on stderr: one redrawn line on a terminal, plain lines otherwise. */
export interface Progress {
  update(message: string): void;
  done(): void;
}

export function createProgress(io: Io, enabled = true): Progress {
  if (!enabled) return { update: () => {}, done: () => {} };
  if (!io.isTTY) {
    return { update: (message) => io.stderr.write(`${message}\n`), done: () => {} };
  }
  return {
    update: (message) => io.stderr.write(`\r\x1b[K${message}`),
    done: () => io.stderr.write('\r\x1b[K'),
  };
}
