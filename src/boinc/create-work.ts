import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { runProcess } from '../process.js';
import type { JobBounds, JobCreation, JobCreator, JobSpec } from './jobs.js';
import { type ProjectLayout, workunitInputName } from './project.js';
import { stageInputFile } from './stage.js';

export const RESULT_TEMPLATE = 'templates/axiom_out';
const SHIPPED_TEMPLATES = new URL('../../scripts/boinc/templates/', import.meta.url).pathname;

/** Copies the shipped output template into the project's templates/ when it is not there yet. */
export function installResultTemplate(projectDir: string): void {
  const target = join(projectDir, RESULT_TEMPLATE);
  if (existsSync(target)) return;
  mkdirSync(join(projectDir, 'templates'), { recursive: true });
  copyFileSync(join(SHIPPED_TEMPLATES, 'axiom_out'), target);
}

/** An input template per set of resource bounds: its values override create_work's defaults. */
export function inputTemplate(bounds: JobBounds): string {
  return `<input_template>
<file_info>
    <number>0</number>
</file_info>
<workunit>
    <file_ref>
        <file_number>0</file_number>
        <open_name>wu.json</open_name>
        <copy_file/>
    </file_ref>
    <rsc_fpops_est>${bounds.fpopsEst}</rsc_fpops_est>
    <rsc_fpops_bound>${bounds.fpopsBound}</rsc_fpops_bound>
    <rsc_memory_bound>${bounds.memoryBound}</rsc_memory_bound>
    <rsc_disk_bound>${bounds.diskBound}</rsc_disk_bound>
    <delay_bound>${bounds.delayBound}</delay_bound>
    <min_quorum>1</min_quorum>
    <target_nresults>1</target_nresults>
    <max_error_results>1</max_error_results>
    <max_total_results>1</max_total_results>
    <max_success_results>1</max_success_results>
</workunit>
</input_template>
`;
}

/**
 * Creates a batch of targeted workunits with one `bin/create_work --stdin` process, one line per
 * job, then checks that every expected workunit row exists: create_work can exit 0 without
 * inserting (a missing result template, for one).
 */
export interface CreateWorkOptions {
  layout: ProjectLayout;
  /** BOINC app name of the experiment runner. */
  app: string;
  /** Which of these workunit names exist in the database. */
  existingWorkunits: (names: readonly string[]) => Promise<Set<string>>;
  /** Default: `<project>/bin/create_work`. */
  command?: string;
  /** Environment of the create_work process (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export class CreateWorkJobCreator implements JobCreator {
  private readonly layout: ProjectLayout;

  constructor(private readonly options: CreateWorkOptions) {
    this.layout = options.layout;
  }

  /**
   * One `create_work --stdin` process per distinct input template, named with the global
   * `--wu_template`: create_work hands a line with `--target_host` to the job creator before it reads
   * that line's own `--wu_template` (tools/create_work.cpp, since 2014), so a targeted job only ever
   * gets the global template. Grouping by template keeps a deploy to a handful of processes.
   */
  async createJobs(jobs: readonly JobSpec[]): Promise<JobCreation> {
    const byTemplate = new Map<string, JobSpec[]>();
    for (const job of jobs) {
      const template = this.templateFor(job.bounds);
      byTemplate.set(template, [...(byTemplate.get(template) ?? []), job]);
    }
    const outcome: JobCreation = { created: [], failed: [] };
    for (const [template, group] of byTemplate) {
      const part = await this.createWithTemplate(template, group);
      outcome.created.push(...part.created);
      outcome.failed.push(...part.failed);
    }
    return outcome;
  }

  /** The number of create_work processes a batch of jobs takes. */
  processesFor(jobs: readonly JobSpec[]): number {
    return new Set(jobs.map((job) => inputTemplate(job.bounds))).size;
  }

  private async createWithTemplate(template: string, jobs: readonly JobSpec[]): Promise<JobCreation> {
    const lines = jobs.map((job) => {
      const inputName = workunitInputName(job.wuName, job.input);
      // Only workunits without a row are created, so nothing uses a file staged before under this name.
      stageInputFile(this.layout.downloadDir, this.layout.fanout, inputName, job.input, { replace: true });
      return `--wu_name ${job.wuName} --target_host ${job.host} ${inputName}`;
    });
    const args = [
      '--appname',
      this.options.app,
      '--wu_template',
      template,
      '--result_template',
      RESULT_TEMPLATE,
      '--min_quorum',
      '1',
      '--target_nresults',
      '1',
      '--stdin',
    ];
    const command = this.options.command ?? join(this.layout.projectDir, 'bin', 'create_work');
    const env = { ...(this.options.env ?? process.env), BOINC_PROJECT_DIR: this.layout.projectDir };
    const run = await runProcess(command, args, {
      input: `${lines.join('\n')}\n`,
      cwd: this.layout.projectDir,
      env,
      notFound: () =>
        new ConfigurationError(`${command} not found; is AXIOM_BOINC_PROJECT_DIR a BOINC project?`),
    });
    const names = jobs.map((job) => job.wuName);
    const present = await this.options.existingWorkunits(names);
    const reason =
      run.code === 0
        ? `create_work exited 0 but inserted no workunit row${run.stderr.trim() ? ` (${lastLine(run.stderr)})` : ''}`
        : `create_work exited ${run.code}: ${lastLine(run.stderr) || 'no message'}`;
    return {
      created: names.filter((name) => present.has(name)),
      failed: names.filter((name) => !present.has(name)).map((name) => ({ name, reason })),
    };
  }

  private templateFor(bounds: JobBounds): string {
    const text = inputTemplate(bounds);
    const relative = `templates/axiom_in_${createHash('sha256').update(text).digest('hex').slice(0, 10)}`;
    const path = join(this.layout.projectDir, relative);
    if (!existsSync(path)) {
      mkdirSync(join(this.layout.projectDir, 'templates'), { recursive: true });
      writeFileSync(path, text);
    }
    return relative;
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}
