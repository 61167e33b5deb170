import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { LocalJobCreator, memoryRefusal, runVolunteers, seedStore } from '../src/demo/volunteers.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { WorkunitName } from '../src/workunit/name.js';

const GIB = 2 ** 30;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'axiom-volunteers-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the demo's volunteers, as BOINC's scheduler sends them work", () => {
  it('refuses a workunit whose memory bound is above 90% of the host memory, in the scheduler’s words', () => {
    expect(memoryRefusal(8 * GIB, 4 * GIB)).toBe(
      'Axiom Lab needs 8192.00 MB RAM but only 3686.40 MB is available for use.',
    );
    expect(memoryRefusal(3.6 * GIB, 4 * GIB)).toBeUndefined();
  });

  it('never runs a workunit its host cannot hold: it stays unsent, with no result row', async () => {
    const store = new SqliteBoincStore(join(dir, 'boinc.sqlite'));
    const layout = { projectDir: dir, downloadDir: join(dir, 'download'), fanout: 1024 };
    try {
      await seedStore(store, [{ id: 5, cores: 2, memoryGb: 4, os: 'linux', gpus: [] }]);
      const wuName = WorkunitName.format({
        experiment: 'probe',
        scriptSha: 'ab'.repeat(6),
        host: 5,
        replica: 0,
      });
      await new LocalJobCreator(store, layout).createJobs([
        {
          wuName,
          host: 5,
          input: Buffer.from('{}'),
          bounds: { fpopsEst: 1, fpopsBound: 10, memoryBound: 8 * GIB, diskBound: 1e9, delayBound: 86_400 },
        },
      ]);
      const unsent: unknown[] = [];
      const runs = await runVolunteers({
        store,
        layout,
        runsDir: join(dir, 'runs'),
        spoolDir: join(dir, 'spool'),
        python: '/nonexistent/python3',
        validator: new SchemaValidator(),
        parallel: 1,
        onUnsent: (u) => unsent.push(u),
      });
      expect(runs).toEqual([]);
      expect(unsent).toEqual([
        {
          workunit: wuName,
          host: 5,
          reason: 'Axiom Lab needs 8192.00 MB RAM but only 3686.40 MB is available for use.',
        },
      ]);
      expect(await store.query('SELECT id FROM result')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
