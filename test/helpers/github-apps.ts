import { createPublicKey, createVerify, type KeyObject, randomBytes } from 'node:crypto';

/**
 * GitHub Apps as GitHub authenticates them, for the GitHub stand-in (docs.github.com, "Generating a
 * JSON Web Token (JWT) for a GitHub App", "Authenticating as a GitHub App installation", and the REST
 * page "Create an installation access token for an app"):
 *
 * - An App signs a JWT with its private key (RS256); `iss` is its client ID or App ID, `iat` may not
 *   lie in the future, `exp` must be in the future and at most ten minutes ahead. GitHub answers 401
 *   with these messages (seen in octokit/auth-app.js's tests and issues #298, #698, and
 *   actions/create-github-app-token #153, #178): "A JSON web token could not be decoded" (malformed,
 *   another App's key, an unknown issuer), "'Expiration time' claim ('exp') is too far in the future",
 *   "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the
 *   assertion expires", "'Issued at' claim ('iat') must be an Integer representing the time that the
 *   assertion was issued".
 * - With the JWT it finds its installation on a repository (404 when it is not installed there) and
 *   asks for an installation token: 404 for an installation that is not its own, 422 for a repository
 *   the installation cannot reach or a permission it was not granted; the token lives one hour.
 * - Installation tokens (`ghs_…`) act with their permissions only, on their repositories only; an
 *   unknown or expired token is "Bad credentials" (401).
 */

export type Level = 'read' | 'write';
export type Permissions = Record<string, Level>;

export interface AppIdentity {
  /** The numeric App ID (the `app_id` of check runs and installations). */
  id: number;
  slug: string;
}

export interface AppRegistration extends AppIdentity {
  clientId: string;
  /** The App's public key (PEM), GitHub's copy of the key pair whose private half the App holds. */
  publicKey: string;
  installationId: number;
  /** Repository names (in the stand-in's owner) the installation may reach. */
  repositories: string[];
  permissions: Permissions;
}

/** What a request is authenticated as. */
export type Credential =
  | { kind: 'jwt'; app: RegisteredApp }
  | { kind: 'token'; app: AppIdentity; permissions: Permissions; repositories?: string[] };

export interface Refusal {
  status: number;
  message: string;
}

interface RegisteredApp extends AppRegistration {
  key: KeyObject;
}

interface Token {
  app: AppIdentity;
  permissions: Permissions;
  repositories?: string[];
  /** Milliseconds since the epoch; undefined: never (a token the test hands out itself). */
  expiresAt?: number;
}

const TOKEN_LIFETIME_MS = 3_600_000;
export const GITHUB_ACTIONS_APP: AppIdentity = { id: 15368, slug: 'github-actions' };

const refuse = (status: number, message: string): Refusal => ({ status, message });
const NOT_DECODED = refuse(401, 'A JSON web token could not be decoded');
export const BAD_CREDENTIALS = refuse(401, 'Bad credentials');

function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

export function covers(granted: Level | undefined, needed: Level): boolean {
  return granted === 'write' || (granted === 'read' && needed === 'read');
}

export class GitHubApps {
  private readonly apps: RegisteredApp[] = [];
  private readonly tokens = new Map<string, Token>();

  constructor(private readonly now: () => number) {}

  register(app: AppRegistration): void {
    this.apps.push({ ...app, key: createPublicKey(app.publicKey) });
  }

  /** A token the test hands to code directly (a workflow's GITHUB_TOKEN, a forge test's token). */
  issue(token: string, grant: Omit<Token, 'expiresAt'> & { expiresAt?: number }): void {
    this.tokens.set(token, grant);
  }

  /** Authenticates an Authorization header: `Bearer <jwt>` for App routes, `token|Bearer <token>` otherwise. */
  authenticate(header: string | undefined, appRoute: boolean): Credential | Refusal {
    const match = /^(token|bearer) (\S+)$/i.exec(header ?? '');
    if (!match) return refuse(401, 'Requires authentication');
    const [, scheme, value] = match as unknown as [string, string, string];
    if (appRoute) return scheme.toLowerCase() === 'bearer' ? this.verifyJwt(value) : NOT_DECODED;
    const token = this.tokens.get(value);
    if (!token || (token.expiresAt !== undefined && token.expiresAt <= this.now())) return BAD_CREDENTIALS;
    return {
      kind: 'token',
      app: token.app,
      permissions: token.permissions,
      ...(token.repositories ? { repositories: token.repositories } : {}),
    };
  }

  private verifyJwt(jwt: string): Credential | Refusal {
    const parts = jwt.split('.');
    if (parts.length !== 3) return NOT_DECODED;
    const [head, body, signature] = parts as [string, string, string];
    const header = decodePart(head);
    const claims = decodePart(body);
    if (header?.alg !== 'RS256' || !claims) return NOT_DECODED;
    const app = this.apps.find(
      (a) => String(claims.iss) === a.clientId || String(claims.iss) === String(a.id),
    );
    if (!app) return NOT_DECODED;
    const verified = createVerify('RSA-SHA256')
      .update(`${head}.${body}`)
      .verify(app.key, Buffer.from(signature, 'base64url'));
    if (!verified) return NOT_DECODED;
    const now = Math.floor(this.now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > now)
      return refuse(
        401,
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
      );
    if (typeof exp !== 'number' || exp <= now)
      return refuse(
        401,
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
      );
    if (exp > now + 600) return refuse(401, "'Expiration time' claim ('exp') is too far in the future");
    return { kind: 'jwt', app };
  }

  /** The JWT's App's installation on `repo`, if it is installed there. */
  installationOn(app: RegisteredApp, repo: string): RegisteredApp | undefined {
    return app.repositories.includes(repo) ? app : undefined;
  }

  /** POST /app/installations/{id}/access_tokens for the JWT's App. */
  mint(
    app: RegisteredApp,
    installationId: number,
    request: { repositories?: string[]; permissions?: Permissions },
  ): { token: string; expiresAt: number; permissions: Permissions; repositories: string[] } | Refusal {
    if (app.installationId !== installationId) return refuse(404, 'Not Found');
    const repositories = request.repositories ?? app.repositories;
    if (repositories.some((r) => !app.repositories.includes(r)))
      return refuse(
        422,
        'There is at least one repository that does not exist or is not accessible to the parent installation.',
      );
    const permissions = request.permissions ?? app.permissions;
    if (Object.entries(permissions).some(([name, level]) => !covers(app.permissions[name], level)))
      return refuse(422, 'The permissions requested are not granted to this installation.');
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    const expiresAt = this.now() + TOKEN_LIFETIME_MS;
    this.tokens.set(token, { app, permissions, repositories, expiresAt });
    return { token, expiresAt, permissions, repositories };
  }
}
