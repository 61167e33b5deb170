import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import type { Problem } from '../problems.js';

/** Judging is high volume and low effort: the small fast model. */
export const DEFAULT_JUDGE_MODEL = 'claude-haiku-5-5';
/** Designing is rare and hard: a strong model. */
export const DEFAULT_DESIGN_MODEL = 'claude-sonnet-5-5';

export type ForgeKind = 'local' | 'github';

/** The file `axiom demo` leaves at the top of the directory it makes. */
export const DEMO_MARKER = '.axiom-demo';

/** The demo directory that holds `cwd` (its lab, or anything in it), if any. */
export function enclosingDemo(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, DEMO_MARKER))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Every environment variable Axiom Lab reads, validated once at the edge (`readEnvironment`);
 * commands are handed the parts they use. Unset optional values are `undefined`.
 */
export interface Environment {
  /**
   * AXIOM_DB_URL: `mysql://user:password@host:3306/db` or `sqlite:PATH` (absolute). Inside a demo
   * lab it defaults to the demo's store.
   */
  databaseUrl?: string;
  /** The `axiom demo` directory the command runs in, whose store and spool are the defaults. */
  demoDir?: string;
  boinc: {
    /** AXIOM_BOINC_PROJECT_DIR (absolute). */
    projectDir?: string;
    /** AXIOM_BOINC_APP. */
    app: string;
  };
  publish: { dir?: string; baseUrl?: string };
  spoolDir?: string;
  python: string;
  claude: {
    apiKey?: string;
    baseUrl?: string;
    designModel: string;
    judgeModel: string;
    judgeBatchFrom: number;
    batchPollMs?: number;
    /** AXIOM_LLM_MAX_USD: the most one run may spend on model calls. */
    maxUsd?: number;
    /** AXIOM_BATCH_DEADLINE_S: how long a message batch may run before it is cancelled. */
    batchDeadlineSeconds?: number;
  };
  forge: {
    kind: ForgeKind;
    remote: string;
    github: { repository?: string; token?: string; apiUrl: string; serverUrl: string };
    committer: { name?: string; email?: string };
    /** AXIOM_BOT_LOGIN: the GitHub App's bot account, e.g. axiom-lab[bot]. */
    botLogin?: string;
  };
  catalogue: { dir?: string; runDuration?: number };
  /** The agent on the BOINC server (`axiom agent`). */
  agent: {
    /** AXIOM_AGENT_DIR: its clone of main and its state. */
    dir: string;
    /** AXIOM_AGENT_REMOTE: the origin it follows (default: GITHUB_REPOSITORY on GITHUB_SERVER_URL). */
    remote?: string;
    /** AXIOM_APP_ID and AXIOM_APP_KEY_FILE: the agent's GitHub App and its private key on this machine. */
    appId?: string;
    appKeyFile?: string;
    /** AXIOM_AGENT_WEBHOOK_SECRET: the listener's shared secret. */
    webhookSecret?: string;
  };
  actions: {
    stepSummary?: string;
    /** GITHUB_ACTIONS is `true`: running in a GitHub Actions job. */
    running: boolean;
    ref?: string;
    sha?: string;
    eventName?: string;
    eventPath?: string;
  };
}

interface Variable {
  /** What it is, for messages and README. */
  meaning: string;
  /** A valid value, shown when a value is wrong or missing. */
  example: string;
  /** Returns a reason when the (non-empty) value is not acceptable. */
  check?: (value: string) => string | undefined;
}

const positiveInteger = (value: string) =>
  /^[1-9][0-9]{0,8}$/.test(value) ? undefined : 'must be a positive whole number';
const oneOf =
  (...choices: string[]) =>
  (value: string) =>
    choices.includes(value) ? undefined : `must be one of ${choices.join(', ')}`;
const url =
  (...protocols: string[]) =>
  (value: string) => {
    try {
      const parsed = new URL(value);
      return protocols.includes(parsed.protocol)
        ? undefined
        : `must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL`;
    } catch {
      return 'must be a URL';
    }
  };

function databaseUrlProblem(value: string): string | undefined {
  if (value.startsWith('sqlite:')) return value.length > 'sqlite:'.length ? undefined : 'names no file';
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'mysql:') return 'must start with mysql:// or sqlite:';
    if (!parsed.hostname || parsed.pathname.length < 2) return 'must name a host and a database';
    return undefined;
  } catch {
    return 'must be mysql://user:password@host:3306/database or sqlite:PATH';
  }
}

/** The variables, by name: one table for validation, messages and documentation. */
export const VARIABLES = {
  AXIOM_DB_URL: {
    meaning: 'the BOINC database',
    example: 'mysql://boincadm:secret@127.0.0.1:3306/boinc',
    check: databaseUrlProblem,
  },
  AXIOM_BOINC_PROJECT_DIR: {
    meaning: 'the BOINC project directory (config.xml, bin/create_work, download/)',
    example: '/home/boincadm/projects/axiom',
  },
  AXIOM_BOINC_APP: { meaning: 'the BOINC app name of the experiment runner', example: 'axiom' },
  AXIOM_PUBLISH_DIR: {
    meaning: 'the directory volunteers download scripts from',
    example: '/var/www/axiom',
  },
  AXIOM_SCRIPT_BASE_URL: {
    meaning: 'the https URL of AXIOM_PUBLISH_DIR',
    example: 'https://boinc.example.org/axiom/',
    check: url('https:', 'file:'),
  },
  AXIOM_SPOOL_DIR: {
    meaning: 'where axiom assimilate leaves results for axiom collect',
    example: '/var/lib/axiom/spool',
  },
  AXIOM_PYTHON: { meaning: 'a Python 3 interpreter with numpy', example: '/usr/bin/python3' },
  ANTHROPIC_API_KEY: {
    meaning: 'the Claude API key; unset: catalogue designer and rules judge',
    example: 'sk-ant-…',
  },
  ANTHROPIC_BASE_URL: {
    meaning: 'the Claude API endpoint',
    example: 'https://api.anthropic.com',
    check: url('https:', 'http:'),
  },
  AXIOM_DESIGN_MODEL: { meaning: 'the model that designs experiments', example: DEFAULT_DESIGN_MODEL },
  AXIOM_JUDGE_MODEL: { meaning: 'the model that judges results', example: DEFAULT_JUDGE_MODEL },
  AXIOM_JUDGE_BATCH_FROM: {
    meaning: 'from this many results on, judge through the Message Batches API',
    example: '20',
    check: positiveInteger,
  },
  AXIOM_BATCH_POLL_MS: {
    meaning: 'first interval between polls of a message batch, in milliseconds',
    example: '5000',
    check: positiveInteger,
  },
  AXIOM_LLM_MAX_USD: {
    meaning: 'the most one run may spend on Claude; a call or batch that could pass it is not made',
    example: '5',
    check: (v) =>
      /^[0-9]+(\.[0-9]+)?$/.test(v) && Number(v) > 0 ? undefined : 'must be a positive number of dollars',
  },
  AXIOM_BATCH_DEADLINE_S: {
    meaning: 'seconds a message batch may run before it is cancelled (its answers so far are kept)',
    example: '18000',
    check: positiveInteger,
  },
  AXIOM_FORGE: { meaning: 'where pull requests go', example: 'github', check: oneOf('local', 'github') },
  AXIOM_GIT_REMOTE: { meaning: 'the git remote of the forge', example: 'origin' },
  GITHUB_REPOSITORY: {
    meaning: 'the GitHub repository of the lab',
    example: 'axiom-lab/research',
    check: (v) => (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(v) ? undefined : 'must be owner/name'),
  },
  GITHUB_TOKEN: { meaning: 'a GitHub App installation token', example: 'ghs_…' },
  GITHUB_API_URL: {
    meaning: 'the GitHub API',
    example: 'https://api.github.com',
    check: url('https:', 'http:'),
  },
  GITHUB_SERVER_URL: {
    meaning: 'the GitHub server',
    example: 'https://github.com',
    check: url('https:', 'http:'),
  },
  GIT_COMMITTER_NAME: { meaning: 'who commits what Axiom Lab proposes', example: 'Axiom Lab' },
  GIT_COMMITTER_EMAIL: { meaning: "the committer's email", example: 'axiom-lab@users.noreply.github.com' },
  AXIOM_CATALOGUE_DIR: {
    meaning: 'a catalogue of experiments other than the built-in one',
    example: './catalogue',
  },
  AXIOM_CATALOGUE_RUN_DURATION: {
    meaning: "seconds each catalogue experiment runs (the demo's short runs)",
    example: '30',
    check: positiveInteger,
  },
  GITHUB_STEP_SUMMARY: {
    meaning: 'the Actions job summary file (set by GitHub)',
    example: '/home/runner/…/step_summary',
  },
  GITHUB_ACTIONS: { meaning: 'set to true in a GitHub Actions job (by GitHub)', example: 'true' },
  GITHUB_REF: {
    meaning: 'the ref the Actions run is on (set by GitHub)',
    example: 'refs/heads/main',
  },
  GITHUB_SHA: {
    meaning: 'the commit the Actions run is for (set by GitHub)',
    example: '0123456789abcdef0123456789abcdef01234567',
    check: (v) => (/^[0-9a-f]{40}$/.test(v) ? undefined : 'must be a commit id in 40 hex digits'),
  },
  GITHUB_EVENT_NAME: { meaning: 'the event that started the Actions run (set by GitHub)', example: 'push' },
  GITHUB_EVENT_PATH: {
    meaning: "the Actions run's event payload (set by GitHub)",
    example: '/home/runner/work/_temp/_github_workflow/event.json',
  },
  AXIOM_AGENT_DIR: {
    meaning: "the agent's clone of main and its state file, on the BOINC server",
    example: '/var/lib/axiom/agent',
  },
  AXIOM_AGENT_REMOTE: {
    meaning: 'the repository the agent follows (a URL or, for the local forge, a path)',
    example: 'https://github.com/axiom-lab/research.git',
  },
  AXIOM_APP_ID: {
    meaning: "the agent's GitHub App: its client ID or App ID",
    example: 'Iv23liAxiomAgent',
    check: (v) => (/^[A-Za-z0-9]{1,64}$/.test(v) ? undefined : 'must be a client ID or a numeric App ID'),
  },
  AXIOM_APP_KEY_FILE: {
    meaning: "the agent's GitHub App private key (PEM), readable only by the agent's user",
    example: '/etc/axiom/agent-app.pem',
  },
  AXIOM_AGENT_WEBHOOK_SECRET: {
    meaning: "the shared secret of the agent's listener (32 characters or more)",
    example: 'openssl rand -hex 32',
    check: (v) => (v.length >= 32 ? undefined : 'must be 32 characters or more'),
  },
  AXIOM_BOT_LOGIN: {
    meaning: "the GitHub App's bot account: commits and trusted comments are its",
    example: 'axiom-lab[bot]',
    check: (v) =>
      /^[A-Za-z0-9-]{1,39}\[bot\]$/.test(v) ? undefined : 'must be an app slug followed by [bot]',
  },
} satisfies Record<string, Variable>;

export type VariableName = keyof typeof VARIABLES;

/** Reads and validates every variable at once; any wrong value stops the command with all of them listed. */
export function readEnvironment(env: NodeJS.ProcessEnv, cwd: string): Environment {
  const problems: Problem[] = [];
  const get = (name: VariableName): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    const variable: Variable = VARIABLES[name];
    const reason = variable.check?.(value);
    if (reason) {
      problems.push({
        file: 'environment',
        path: name,
        rule: 'environment',
        message: `${reason}; found ${JSON.stringify(name.includes('TOKEN') || name.includes('KEY') || name.includes('SECRET') ? '…' : value.slice(0, 80))}, expected e.g. ${variable.example}`,
        severity: 'error',
      });
      return undefined;
    }
    return value;
  };
  const path = (name: VariableName) => {
    const value = get(name);
    return value === undefined ? undefined : isAbsolute(value) ? value : resolve(cwd, value);
  };
  const number = (name: VariableName) => {
    const value = get(name);
    return value === undefined ? undefined : Number(value);
  };
  const demo = enclosingDemo(cwd);
  const db = get('AXIOM_DB_URL') ?? (demo ? `sqlite:${join(demo, 'boinc.sqlite')}` : undefined);
  const environment: Environment = {
    ...(db ? { databaseUrl: db.startsWith('sqlite:') ? `sqlite:${resolve(cwd, db.slice(7))}` : db } : {}),
    ...(demo ? { demoDir: demo } : {}),
    boinc: { projectDir: path('AXIOM_BOINC_PROJECT_DIR'), app: get('AXIOM_BOINC_APP') ?? 'axiom' },
    publish: { dir: path('AXIOM_PUBLISH_DIR'), baseUrl: get('AXIOM_SCRIPT_BASE_URL') },
    spoolDir: path('AXIOM_SPOOL_DIR') ?? (demo ? join(demo, 'spool') : undefined),
    python: get('AXIOM_PYTHON') ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'),
    claude: {
      apiKey: get('ANTHROPIC_API_KEY'),
      baseUrl: get('ANTHROPIC_BASE_URL'),
      designModel: get('AXIOM_DESIGN_MODEL') ?? DEFAULT_DESIGN_MODEL,
      judgeModel: get('AXIOM_JUDGE_MODEL') ?? DEFAULT_JUDGE_MODEL,
      judgeBatchFrom: number('AXIOM_JUDGE_BATCH_FROM') ?? 20,
      batchPollMs: number('AXIOM_BATCH_POLL_MS'),
      maxUsd: number('AXIOM_LLM_MAX_USD'),
      batchDeadlineSeconds: number('AXIOM_BATCH_DEADLINE_S'),
    },
    forge: {
      kind: (get('AXIOM_FORGE') as ForgeKind | undefined) ?? 'local',
      remote: get('AXIOM_GIT_REMOTE') ?? 'origin',
      github: {
        repository: get('GITHUB_REPOSITORY'),
        token: get('GITHUB_TOKEN'),
        apiUrl: get('GITHUB_API_URL') ?? 'https://api.github.com',
        serverUrl: get('GITHUB_SERVER_URL') ?? 'https://github.com',
      },
      committer: { name: get('GIT_COMMITTER_NAME'), email: get('GIT_COMMITTER_EMAIL') },
      botLogin: get('AXIOM_BOT_LOGIN'),
    },
    catalogue: { dir: path('AXIOM_CATALOGUE_DIR'), runDuration: number('AXIOM_CATALOGUE_RUN_DURATION') },
    agent: {
      dir: path('AXIOM_AGENT_DIR') ?? '/var/lib/axiom/agent',
      remote: get('AXIOM_AGENT_REMOTE'),
      appId: get('AXIOM_APP_ID'),
      appKeyFile: path('AXIOM_APP_KEY_FILE'),
      webhookSecret: get('AXIOM_AGENT_WEBHOOK_SECRET'),
    },
    actions: {
      stepSummary: get('GITHUB_STEP_SUMMARY'),
      running: get('GITHUB_ACTIONS') === 'true',
      ref: get('GITHUB_REF'),
      sha: get('GITHUB_SHA'),
      eventName: get('GITHUB_EVENT_NAME'),
      eventPath: get('GITHUB_EVENT_PATH'),
    },
  };
  if (problems.length > 0)
    throw new InvalidInputError(
      `${problems.length} environment variable${problems.length === 1 ? ' is' : 's are'} wrong; nothing was done`,
      problems,
    );
  return environment;
}

/** A variable a command cannot do without: its value, or an error that says what it should be. */
export function required<T>(value: T | undefined, name: VariableName, why = ''): T {
  if (value !== undefined) return value;
  const variable: Variable = VARIABLES[name];
  throw new ConfigurationError(
    `${name} is not set${why ? ` (${why})` : ''}; expected ${variable.meaning}, e.g. ${variable.example}`,
  );
}
