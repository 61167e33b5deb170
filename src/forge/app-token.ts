import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { RequestError } from '@octokit/request-error';
import { Octokit } from '@octokit/rest';
import { ConfigurationError, ForgeError } from '../errors.js';

/**
 * Installation tokens of a GitHub App whose private key is on this machine (docs.github.com,
 * "Authenticating as a GitHub App installation"): a JSON Web Token signed with the key (RS256, at
 * most ten minutes long, issued a minute in the past against clock drift) finds the installation
 * on the repository and asks for a token limited to that repository and the permissions given.
 * A token lives an hour; one is reused while it has more than `freshFor` left.
 */
export interface AppTokenOptions {
  /** The App's client ID (Iv23…) or numeric App ID: the JWT's issuer. */
  appId: string;
  /** The PEM private key. */
  privateKey: string;
  repository: string;
  apiUrl: string;
  permissions: Record<string, 'read' | 'write'>;
  now?: () => number;
  /** Milliseconds a cached token must still be valid for to be reused (default 15 minutes). */
  freshFor?: number;
}

/** What GitHub's refusal most likely means, by status. */
function hint(status: number, options: AppTokenOptions): string {
  const permissions = Object.entries(options.permissions)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  if (status === 401)
    return "the App's ID and private key do not belong together, or this machine's clock is off (GitHub checks the token's times against its own)";
  if (status === 404) return `the App is not installed on ${options.repository}`;
  if (status === 422)
    return `the installation was not granted every permission asked for (${permissions}); grant them in the App's settings and accept them on the installation`;
  return `is the App installed on the repository with these permissions (${permissions})?`;
}

export class AppTokenSource {
  private readonly key: KeyObject;
  private cached?: { token: string; expiresAt: number };
  private installation?: { id: number; appId: number };

  constructor(private readonly options: AppTokenOptions) {
    try {
      this.key = createPrivateKey(options.privateKey);
    } catch (error) {
      throw new ConfigurationError(
        `the GitHub App private key is not a PEM private key (${(error as Error).message}); expected the .pem file GitHub let you download`,
      );
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The App's JSON Web Token: RS256, issued 60 s ago, expiring in 9 minutes. */
  jwt(): string {
    const seconds = Math.floor(this.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat: seconds - 60, exp: seconds + 540, iss: this.options.appId })}`;
    const signature = createSign('RSA-SHA256').update(unsigned).sign(this.key).toString('base64url');
    return `${unsigned}.${signature}`;
  }

  /**
   * The App's numeric ID (what check runs carry as `app.id`): AXIOM_APP_ID when it is one, else the
   * one GitHub names with the installation.
   */
  async appId(): Promise<number> {
    if (/^\d+$/.test(this.options.appId)) return Number(this.options.appId);
    if (!this.installation) await this.token();
    return (this.installation as { appId: number }).appId;
  }

  /** A token for the repository with the permissions asked for. */
  async token(): Promise<string> {
    if (this.cached && this.cached.expiresAt - this.now() > (this.options.freshFor ?? 15 * 60_000))
      return this.cached.token;
    const [owner, repo] = this.options.repository.split('/') as [string, string];
    const app = new Octokit({
      auth: this.jwt(),
      baseUrl: this.options.apiUrl.replace(/\/$/, ''),
      userAgent: 'axiom-lab',
    });
    try {
      if (!this.installation) {
        const { data } = await app.rest.apps.getRepoInstallation({ owner, repo });
        this.installation = { id: data.id, appId: data.app_id };
      }
      const { data } = await app.rest.apps.createInstallationAccessToken({
        installation_id: this.installation.id,
        repositories: [repo],
        permissions: this.options.permissions,
      });
      this.cached = { token: data.token, expiresAt: Date.parse(data.expires_at) };
      return data.token;
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      throw new ForgeError(
        `GitHub refused the App's token for ${this.options.repository} (HTTP ${error.status}): ${error.message.split(' - ')[0]}; ${hint(error.status, this.options)}`,
        error.status,
        { cause: error },
      );
    }
  }
}
