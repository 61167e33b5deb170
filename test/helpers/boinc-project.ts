import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBoincDatabase, type TestDatabase } from './mariadb.js';
import { FIXTURES } from './repo.js';

export interface TestProject {
  db: TestDatabase;
  projectDir: string;
  cleanup(): Promise<void>;
}

/** A BOINC project directory (config.xml naming a fresh test database, the create_work stand-in) with app `axiom`. */
export async function createTestProject(): Promise<TestProject> {
  const db = await createBoincDatabase({ misc: true });
  await db.connection.query(
    "INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'axiom', 'Axiom Lab')",
  );
  const projectDir = mkdtempSync(join(tmpdir(), 'axiom-project-'));
  const url = new URL(db.url);
  writeFileSync(
    join(projectDir, 'config.xml'),
    `<boinc><config>
  <db_name>${url.pathname.slice(1)}</db_name><db_host>${url.hostname}</db_host>
  <db_user>${decodeURIComponent(url.username)}</db_user><db_passwd>${decodeURIComponent(url.password)}</db_passwd>
  <download_dir>${join(projectDir, 'download')}</download_dir><upload_dir>${join(projectDir, 'upload')}</upload_dir><uldl_dir_fanout>1024</uldl_dir_fanout>
</config></boinc>\n`,
  );
  mkdirSync(join(projectDir, 'bin'));
  mkdirSync(join(projectDir, 'cgi-bin')); // BOINC's tools take a directory as a project only with it
  symlinkSync(join(FIXTURES, 'boinc', 'create_work.mjs'), join(projectDir, 'bin', 'create_work'));
  return {
    db,
    projectDir,
    cleanup: async () => {
      await db.drop();
      rmSync(projectDir, { recursive: true, force: true });
    },
  };
}
