// A throwaway BOINC database on the test MariaDB server (AXIOM_TEST_DB_URL), for benchmarks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

/** Creates database `name` with BOINC's tables; `url` points at it, `drop()` removes it. */
export async function createBenchDatabase(root, name) {
  const server = new URL(process.env.AXIOM_TEST_DB_URL ?? 'mysql://axiom_test:axiom_test@127.0.0.1:3306');
  const admin = await mysql.createConnection({
    host: server.hostname,
    port: Number(server.port || 3306),
    user: decodeURIComponent(server.username),
    password: decodeURIComponent(server.password),
    multipleStatements: true,
  });
  const schema = readFileSync(join(root, 'scripts/boinc/schema.sql'), 'utf8');
  await admin.query(`CREATE DATABASE ${name}; USE ${name};`);
  await admin.query(schema);
  const url = new URL(server.href);
  url.pathname = `/${name}`;
  return {
    admin,
    server,
    schema,
    url: url.href,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}
