import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** A file's bytes, or why it was not read: in words that say nothing of what it is or points at. */
export type FileRead = { bytes: Buffer } | { refused: string };

/**
 * Never follows a link (the last component: O_NOFOLLOW), never waits on a FIFO or a device
 * (O_NONBLOCK), never becomes a terminal's controlling process (O_NOCTTY).
 */
const OPEN_FLAGS =
  constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);
const CHUNK = 64 * 1024;

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a plain file';
}

function openRefusal(code: string | undefined): string {
  if (code === 'ELOOP') return 'a symbolic link, which is never followed';
  if (code === 'ENOENT') return 'missing';
  // open(2) refuses a UNIX socket with ENXIO.
  if (code === 'ENXIO') return 'a socket';
  return `cannot be opened (${code ?? 'unknown error'})`;
}

/** Reads to the end, or undefined past `maxBytes`: a file that grows after fstat is still bounded. */
function readBounded(fd: number, maxBytes: number): Buffer | undefined {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    total += n;
    if (total > maxBytes) return undefined;
  }
  return Buffer.concat(chunks, total);
}

/**
 * Reads a file that someone else may have placed: a regular file only, opened without following a
 * link, refused unread when larger than `maxBytes`, and read within that bound whatever it does
 * meanwhile. A symbolic link (dangling, or to /etc/passwd or /dev/zero), a FIFO, a device or a
 * directory is refused with what it is, never opened for reading and never waited on.
 */
export function readRegularFile(path: string, maxBytes: number): FileRead {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    return { refused: openRefusal((error as NodeJS.ErrnoException).code) };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { refused: `${kindOf(stat)}, not a regular file` };
    if (stat.size > maxBytes) return { refused: `larger than ${maxBytes} bytes` };
    const bytes = readBounded(fd, maxBytes);
    return bytes ? { bytes } : { refused: `larger than ${maxBytes} bytes` };
  } catch (error) {
    return { refused: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})` };
  } finally {
    closeSync(fd);
  }
}
