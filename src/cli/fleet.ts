import { resolve } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { openStore } from '../boinc/open.js';
import { required } from '../env/environment.js';
import { InvalidInputError, UsageError } from '../errors.js';
import { withReportedBlas } from '../fleet/blas.js';
import { renderSnapshot } from '../fleet/export.js';
import { readResearchRecord, reportedBlas } from '../record/research.js';
import { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';
import { booleanOption, defineCommand, numberOption, stringOption } from './command.js';

const DEFAULT_SILENT_DAYS = 14;

export const fleetCommand = defineCommand({
  name: 'fleet',
  summary: 'refresh the fleet snapshot (fleet.yaml) from the BOINC database',
  usage: 'export',
  description: [
    'axiom fleet export reads the host inventory from the BOINC database (AXIOM_DB_URL): cores,',
    'memory, OS, GPUs (host.misc JSON on server 1.6+, host.serialnum on 1.4), user, team and last',
    'contact. Blacklisted hosts (max_results_day = -1), hosts silent for longer than --silent-days and',
    "hosts with an unknown OS are left out. Each host's BLAS comes from the research record in --root",
    '(the environment its latest collected result reported), so that the planner sizes its work for',
    'OpenBLAS or the reference BLAS; a host with no result yet is sized for the reference BLAS, the',
    'slower. The snapshot is validated and written atomically, so pull-request checks need no database.',
  ].join('\n'),
  options: {
    out: { type: 'string', value: 'FILE', description: 'snapshot to write (default: fleet.yaml)' },
    root: {
      type: 'string',
      value: 'DIR',
      description: "repository whose results/ give each host's BLAS (default: the current directory)",
    },
    'silent-days': {
      type: 'string',
      value: 'N',
      description: `leave out hosts not seen for N days (default ${DEFAULT_SILENT_DAYS})`,
    },
    'dry-run': { type: 'boolean', description: 'print the snapshot instead of writing it' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    if (args.positionals.length !== 1 || args.positionals[0] !== 'export') {
      throw new UsageError('expected the subcommand "export"', 'fleet');
    }
    const url = required(env.databaseUrl, 'AXIOM_DB_URL');
    const silentDays = numberOption(args, 'fleet', 'silent-days', { min: 0 }) ?? DEFAULT_SILENT_DAYS;
    const out = resolve(io.cwd, stringOption(args, 'out') ?? 'fleet.yaml');
    const store = openStore(url);
    const now = new Date();
    let text: string;
    let count: number;
    try {
      const validator = new SchemaValidator();
      const hosts = withReportedBlas(
        await store.readHosts({ silentAfterDays: silentDays, now }),
        reportedBlas(readResearchRecord(resolve(io.cwd, stringOption(args, 'root') ?? '.'), validator)),
      );
      text = renderSnapshot(hosts, `BOINC database ${store.label}`, now);
      count = hosts.length;
    } finally {
      await store.close();
    }
    // What we write must pass the same schema axiom check reads it with.
    const { document, problems } = parseYaml(out, text);
    const invalid = document ? [...problems, ...new SchemaValidator().validate('fleet', document)] : problems;
    if (invalid.length > 0)
      throw new InvalidInputError('the exported snapshot does not match the fleet schema', invalid);
    const dryRun = booleanOption(args, 'dry-run');
    if (!dryRun) {
      writeFileAtomically(out, text);
    }
    if (booleanOption(args, 'json'))
      io.stdout.write(`${JSON.stringify({ hosts: count, file: out, written: !dryRun })}\n`);
    else if (dryRun) io.stdout.write(text);
    else io.stdout.write(`wrote ${count} hosts to ${out}\n`);
    return 0;
  },
});
