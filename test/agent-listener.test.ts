import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createListener, NoticeChecker, SIGNATURE_HEADER, signBody } from '../src/agent/listener.js';
import { REPO_ROOT, runProcess } from './helpers/repo.js';

// The agent's listener: only a fresh notice signed with the shared secret wakes the agent.

const SECRET = 'a'.repeat(16) + 'b'.repeat(16) + 'c'.repeat(8);
const SHA = '0123456789abcdef0123456789abcdef01234567';
const NOW = 1_800_000_000;

const body = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ event: 'main-moved', commit: SHA, sent_at: NOW, delivery: '4242-1', ...fields });

describe('a notice', () => {
  const checker = () => new NoticeChecker({ secret: SECRET, now: () => NOW * 1000 });

  it('signed with the secret wakes the agent once; the same delivery again is a replay', () => {
    const c = checker();
    const text = body();
    expect(c.check(Buffer.from(text), signBody(SECRET, text))).toMatchObject({
      status: 202,
      notice: { commit: SHA },
    });
    expect(c.check(Buffer.from(text), signBody(SECRET, text))).toMatchObject({ status: 409 });
  });

  it('forged, altered, unsigned or old is refused', () => {
    const c = checker();
    const text = body();
    expect(
      c.check(Buffer.from(text), signBody('not the secret at all, though long enough', text)).status,
    ).toBe(401);
    expect(c.check(Buffer.from(body({ commit: 'f'.repeat(40) })), signBody(SECRET, text)).status).toBe(401);
    expect(c.check(Buffer.from(text), undefined).status).toBe(401);
    expect(c.check(Buffer.from(text), 'sha256=00').status).toBe(401);
    const old = body({ sent_at: NOW - 301, delivery: 'old' });
    expect(c.check(Buffer.from(old), signBody(SECRET, old))).toMatchObject({
      status: 401,
      message: expect.stringContaining('valid for 300 s'),
    });
    const shell = body({ commit: '$(touch /tmp/pwned)', delivery: 'shell' });
    expect(c.check(Buffer.from(shell), signBody(SECRET, shell)).status).toBe(400);
  });
});

describe('the listener over HTTP, and scripts/agent/notify.mjs', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function listen(onNotice: (commit: string) => void): Promise<string> {
    const listener = createListener({ secret: SECRET, path: '/hook', onNotice, maxBytes: 1024 });
    server = listener;
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(listener.address() as AddressInfo).port}/hook`;
  }

  it('takes what the deploy workflow sends, and refuses it replayed, oversized or unsigned', async () => {
    const notices: string[] = [];
    const url = await listen((commit) => notices.push(commit));
    const env = {
      PATH: process.env.PATH,
      AXIOM_AGENT_URL: url,
      AXIOM_AGENT_WEBHOOK_SECRET: SECRET,
      GITHUB_SHA: SHA,
      GITHUB_RUN_ID: '77',
      GITHUB_RUN_ATTEMPT: '1',
    };
    const notify = () =>
      runProcess('node', [join(REPO_ROOT, 'scripts/agent/notify.mjs')], { cwd: REPO_ROOT, env });
    const sent = await notify();
    expect(sent.stdout).toContain(`the agent took the notice for ${SHA.slice(0, 12)} (HTTP 202)`);
    expect(notices).toEqual([SHA]);
    const replayed = await notify();
    expect(replayed.status).toBe(1);
    expect(replayed.stderr).toContain(
      'the agent refused the notice (HTTP 409): delivery 77-1 was taken before',
    );
    const big = await fetch(url, {
      method: 'POST',
      body: 'x'.repeat(4096),
      headers: { [SIGNATURE_HEADER]: 'sha256=00' },
    });
    expect(big.status).toBe(413);
    expect((await fetch(url)).status).toBe(405);
    expect((await fetch(url.replace('/hook', '/other'), { method: 'POST', body: '{}' })).status).toBe(404);
    const unsigned = await fetch(url, {
      method: 'POST',
      body: body({ sent_at: Math.floor(Date.now() / 1000), delivery: 'x' }),
    });
    expect(unsigned.status).toBe(401);
    expect(notices).toEqual([SHA]);
  });

  it('notify.mjs sends nothing without a URL, and refuses a short secret', async () => {
    const base = { PATH: process.env.PATH, GITHUB_SHA: SHA };
    const none = await runProcess('node', [join(REPO_ROOT, 'scripts/agent/notify.mjs')], {
      cwd: REPO_ROOT,
      env: base,
    });
    expect(none).toMatchObject({
      status: 0,
      stdout: expect.stringContaining('the agent finds main by polling'),
    });
    const short = await runProcess('node', [join(REPO_ROOT, 'scripts/agent/notify.mjs')], {
      cwd: REPO_ROOT,
      env: { ...base, AXIOM_AGENT_URL: 'http://127.0.0.1:9/hook', AXIOM_AGENT_WEBHOOK_SECRET: 'short' },
    });
    expect(short.status).toBe(1);
  });
});
