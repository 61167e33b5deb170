import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitRemote, tokenAuthEnv } from '../src/forge/git.js';
import { git, type Lab, makeLab } from './helpers/git.js';

// Pushing to an https remote that wants a token, as GitHub does: git's own smart-HTTP server
// (git http-backend) behind Basic authentication, and the token handed to git the two ways we do.
const TOKEN = 'ghs_test_token_for_the_backend';
let lab: Lab;
let server: Server;
let seen: string[];

beforeEach(async () => {
  lab = makeLab();
  git(lab.origin, 'config', 'http.receivepack', 'true');
  seen = [];
  server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push(auth ? 'with credentials' : 'without');
    if (
      auth !== `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}` &&
      auth !== `basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`
    ) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const backend = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: lab.root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname.replace(/^\/lab/, ''),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'x-access-token',
      },
    });
    req.pipe(backend.stdin);
    let head = Buffer.alloc(0);
    let sent = false;
    backend.stdout.on('data', (chunk: Buffer) => {
      if (sent) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k?.toLowerCase() === 'status') status = Number.parseInt(v.join(':'), 10);
        else if (k) headers[k] = v.join(':').trim();
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
      sent = true;
    });
    backend.on('close', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/lab/origin.git`;
  git(lab.clone, 'remote', 'set-url', 'origin', url);
});

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const serverUrl = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

describe('pushing with a token', () => {
  it('is refused without one, as GitHub refuses', async () => {
    const head = git(lab.clone, 'rev-parse', 'HEAD');
    await expect(new GitRemote(lab.clone, 'origin').push(head, 'axiom/x', { force: false })).rejects.toThrow(
      /cannot push axiom\/x to origin/,
    );
  });

  it('sends the token as a header through GIT_CONFIG_* on git 2.31 and later', async () => {
    const env = tokenAuthEnv(serverUrl(), TOKEN, [2, 39]);
    expect(Object.keys(env)).toEqual(['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']);
    const head = git(lab.clone, 'rev-parse', 'HEAD');
    await new GitRemote(lab.clone, 'origin', env).push(head, 'axiom/header', { force: false });
    expect(git(lab.origin, 'rev-parse', 'axiom/header')).toBe(head);
    expect(seen[0]).toBe('with credentials');
  });

  it('answers git through an askpass program on older git, which ignores GIT_CONFIG_*', async () => {
    const env = tokenAuthEnv(serverUrl(), TOKEN, [2, 30]);
    expect(Object.keys(env).sort()).toEqual(['AXIOM_GIT_TOKEN', 'GIT_ASKPASS']);
    const head = git(lab.clone, 'rev-parse', 'HEAD');
    await new GitRemote(lab.clone, 'origin', env).push(head, 'axiom/askpass', { force: false });
    expect(git(lab.origin, 'rev-parse', 'axiom/askpass')).toBe(head);
    // git asked without credentials first, was told 401, and asked the program.
    expect(seen.slice(0, 2)).toEqual(['without', 'with credentials']);
    expect(await new GitRemote(lab.clone, 'origin', env).remoteTip('axiom/askpass')).toBe(head);
  });
});
