import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1, made with openssl for this test run. */
export function makeCertificate(): { key: string; cert: string; certFile: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'axiom-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return {
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    certFile: join(dir, 'cert.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A strict HTTPS file server: it serves only the paths it was told to expect, records any other
 * request as unexpected, and reports expected paths that were never requested.
 */
export class StrictFileServer {
  private readonly server: Server;
  private readonly expected = new Map<string, Buffer>();
  private readonly requested = new Set<string>();
  readonly unexpected: string[] = [];

  constructor(tls: { key: string; cert: string }) {
    this.server = createServer(tls, (request, response) => {
      const body = request.method === 'GET' ? this.expected.get(request.url ?? '') : undefined;
      if (!body) {
        this.unexpected.push(`${request.method} ${request.url}`);
        response.writeHead(404).end();
        return;
      }
      this.requested.add(request.url ?? '');
      response.writeHead(200, { 'content-type': 'text/x-python' }).end(body);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  expect(path: string, body: string | Buffer): string {
    this.expected.set(path, Buffer.from(body));
    return this.urlFor(path);
  }

  urlFor(path: string): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** Expected paths never requested, and requests never expected; both must be empty. */
  unmet(): { neverRequested: string[]; unexpected: string[] } {
    return {
      neverRequested: [...this.expected.keys()].filter((p) => !this.requested.has(p)),
      unexpected: this.unexpected,
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
