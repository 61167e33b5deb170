import { spawnSync } from 'node:child_process';

/** The account a volunteer's BOINC client runs as, the way Debian's boinc-client makes `boinc`. */
export const VOLUNTEER_ACCOUNT = 'axiom-boinc';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

function lookup(): Account | undefined {
  const line = spawnSync('getent', ['passwd', VOLUNTEER_ACCOUNT], { encoding: 'utf8' }).stdout.trim();
  const [, , uid, gid] = line.split(':');
  return line ? { name: VOLUNTEER_ACCOUNT, uid: Number(uid), gid: Number(gid) } : undefined;
}

/**
 * As root: an unprivileged system account that owns nothing else (Debian's boinc-client package runs
 * `adduser --system --group boinc`), created here when scripts/install-deps.sh has not made it yet.
 * Not root: undefined, the test already runs unprivileged.
 */
export function volunteerAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const found = lookup();
  if (found) return found;
  const made = spawnSync(
    'useradd',
    [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      VOLUNTEER_ACCOUNT,
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`cannot create the account ${VOLUNTEER_ACCOUNT}: ${made.stderr}`);
  return lookup();
}
