// collect-10k: `axiom collect` judging 10,000 spooled results with the rules judge into results pull
// requests (local forge), end to end: the time, the peak resident memory of the process, and the
// largest pull request's files, images, lines and bytes of diff against main (GitHub shows at most
// 300 files, 25 images, 20,000 lines and 1 MB). The lab stays in bench-output/collect-10k/ (origin.git
// holds every results branch), so the figures can be checked with git.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeCollectLab, measureResultsBranches } from '../test/fixtures/collect-lab.mjs';

const RESULTS = 10_000;
const TARGET_S = 10;
const TARGET_MB = 500;
const LIMITS = { files: 300, images: 25, lines: 20_000, bytes: 1_000_000 };

export async function benchCollect({ root, log }) {
  const dir = join(root, 'bench-output', 'collect-10k');
  rmSync(dir, { recursive: true, force: true });
  const lab = makeCollectLab({ root, dir, results: RESULTS });
  log(`spooled ${RESULTS} results in ${dir}`);
  const runner = `const m = await import(${JSON.stringify(join(root, 'dist/cli/main.js'))});
const code = await m.main(['collect', '--run', '2026-11-25T120000Z', '--json'], m.processIo());
process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = code;`;
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', runner], {
    cwd: lab.clone,
    env: { PATH: process.env.PATH, HOME: dir, AXIOM_SPOOL_DIR: lab.spool, AXIOM_FORGE: 'local' },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0)
    throw new Error(`axiom collect failed (${run.status} ${run.signal} ${run.error}): ${run.stderr}`);
  const report = JSON.parse(run.stdout);
  // Every 97th result is out of range by design (the fixture's flagged ones); the rest are valid.
  const invalid = Math.ceil(RESULTS / 97);
  const valid = report.collected.filter((c) => c.verdict === 'valid').length;
  if (report.collected.length !== RESULTS || valid !== RESULTS - invalid)
    throw new Error(
      `collected ${report.collected.length}, ${valid} valid, of ${RESULTS}: ${JSON.stringify(report.collected[0])}`,
    );
  const branches = measureResultsBranches(lab.origin);
  const largest = Object.fromEntries(
    ['files', 'images', 'lines', 'bytes'].map((k) => [k, Math.max(...branches.map((b) => b[k]))]),
  );
  const peakMb = Number(/MAXRSS (\d+)/.exec(run.stderr)?.[1] ?? 0) / 1024;
  log(
    `${RESULTS} results judged in ${seconds.toFixed(1)} s, peak ${peakMb.toFixed(0)} MB, in ${branches.length} pull requests; the largest: ${largest.files} files, ${largest.images} images, ${largest.lines} lines, ${largest.bytes} bytes of diff`,
  );
  const within = (k) => ({ pass: largest[k] <= LIMITS[k], target: `<= ${LIMITS[k]}` });
  return [
    {
      name: 'collect-10k-s',
      value: Number(seconds.toFixed(1)),
      unit: 's',
      target: `< ${TARGET_S}`,
      pass: seconds < TARGET_S,
    },
    {
      name: 'collect-10k-peak-mb',
      value: Math.round(peakMb),
      unit: 'MB',
      target: `< ${TARGET_MB}`,
      pass: peakMb > 0 && peakMb < TARGET_MB,
    },
    {
      name: 'collect-10k-pull-requests',
      value: branches.length,
      unit: 'pull requests',
      target: 'report',
      pass: true,
    },
    { name: 'collect-10k-largest-pr-files', value: largest.files, unit: 'files', ...within('files') },
    { name: 'collect-10k-largest-pr-images', value: largest.images, unit: 'images', ...within('images') },
    { name: 'collect-10k-largest-pr-lines', value: largest.lines, unit: 'lines', ...within('lines') },
    { name: 'collect-10k-largest-pr-bytes', value: largest.bytes, unit: 'bytes', ...within('bytes') },
  ];
}
