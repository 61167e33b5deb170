import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * The agent's optional listener: a signed notice that main moved makes the agent pass at once
 * instead of at its next poll. It only ever wakes the agent (which then fetches main itself); the
 * commit a notice names is never acted on. A notice is POST JSON
 * `{"event":"main-moved","commit":SHA,"sent_at":UNIX,"delivery":ID}` with header
 * `X-Axiom-Signature-256: sha256=HEX`, HMAC-SHA256 of the exact body with the shared secret,
 * compared in constant time. Refused: another method or path, a body over `maxBytes`, a bad or
 * missing signature, a notice sent more than `window` seconds ago or ahead, and a delivery id
 * seen before (replay).
 */
export interface ListenerOptions {
  secret: string;
  /** Where notices are taken, e.g. /hook. */
  path: string;
  maxBytes?: number;
  /** Seconds a notice stays valid (default 300). */
  window?: number;
  now?: () => number;
  onNotice: (commit: string) => void;
  log?: (line: string) => void;
}

export const SIGNATURE_HEADER = 'x-axiom-signature-256';
const DEFAULT_MAX_BYTES = 8 * 1024;
const DEFAULT_WINDOW = 300;

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface Notice {
  event: 'main-moved';
  commit: string;
  sent_at: number;
  delivery: string;
}

type Verdict = { status: number; message: string; notice?: Notice };

/** Checks a notice; pure, so that every refusal is tested without a socket. */
export class NoticeChecker {
  private readonly seen = new Map<string, number>();

  constructor(private readonly options: Pick<ListenerOptions, 'secret' | 'window' | 'now'>) {}

  check(body: Buffer, signature: string | undefined): Verdict {
    const expected = Buffer.from(signBody(this.options.secret, body.toString('utf8')));
    const given = Buffer.from(signature ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, message: 'the signature does not match' };
    let notice: Notice;
    try {
      notice = JSON.parse(body.toString('utf8')) as Notice;
    } catch {
      return { status: 400, message: 'the body is not JSON' };
    }
    if (
      notice?.event !== 'main-moved' ||
      !/^[0-9a-f]{40}$/.test(String(notice.commit)) ||
      !Number.isInteger(notice.sent_at) ||
      !/^[A-Za-z0-9._-]{1,100}$/.test(String(notice.delivery))
    )
      return {
        status: 400,
        message: 'expected {"event":"main-moved","commit":SHA,"sent_at":UNIX,"delivery":ID}',
      };
    const now = Math.floor((this.options.now ?? Date.now)() / 1000);
    const window = this.options.window ?? DEFAULT_WINDOW;
    if (Math.abs(now - notice.sent_at) > window)
      return {
        status: 401,
        message: `the notice was sent ${now - notice.sent_at} s from now; it is valid for ${window} s`,
      };
    for (const [id, at] of this.seen) if (now - at > 2 * window) this.seen.delete(id);
    if (this.seen.has(notice.delivery))
      return { status: 409, message: `delivery ${notice.delivery} was taken before` };
    this.seen.set(notice.delivery, now);
    return { status: 202, message: 'the agent passes now', notice };
  }
}

/** Reads at most `max` bytes; undefined when the body is longer. */
function readBounded(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${message}\n`);
}

export function createListener(options: ListenerOptions): Server {
  const checker = new NoticeChecker(options);
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return createServer(async (req, res) => {
    if (req.url !== options.path) return answer(res, 404, 'not found');
    if (req.method !== 'POST') return answer(res, 405, 'only POST');
    if (Number(req.headers['content-length'] ?? 0) > max) return answer(res, 413, `at most ${max} bytes`);
    const body = await readBounded(req, max).catch(() => undefined);
    if (!body) return answer(res, 413, `at most ${max} bytes`);
    const verdict = checker.check(body, req.headers[SIGNATURE_HEADER] as string | undefined);
    options.log?.(`agent listener: ${verdict.status} ${verdict.message}`);
    answer(res, verdict.status, verdict.message);
    if (verdict.notice) options.onNotice(verdict.notice.commit);
  });
}
