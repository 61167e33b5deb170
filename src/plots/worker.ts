import { parentPort } from 'node:worker_threads';
import * as vega from 'vega';
import { compile } from 'vega-lite';

/** Renders plots to SVG off the main thread; compiled specifications are kept per shape. */
interface Job {
  id: number;
  key: string;
  spec: Record<string, unknown>;
  values: unknown[];
}

const runtimes = new Map<string, vega.Runtime>();

async function render(job: Job): Promise<string> {
  let runtime = runtimes.get(job.key);
  if (!runtime) {
    runtime = vega.parse(compile(job.spec as never).spec);
    runtimes.set(job.key, runtime);
  }
  const view = new vega.View(runtime, { renderer: 'none' });
  try {
    view.data('points', job.values);
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

parentPort?.on('message', (job: Job) => {
  render(job).then(
    (svg) => parentPort?.postMessage({ id: job.id, svg }),
    (error: Error) => parentPort?.postMessage({ id: job.id, error: error.message }),
  );
});
