import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ToolError } from '../errors.js';
import type { PlotJob } from './spec.js';

// The compiled worker: from src/ (tests) and from dist/ this is dist/plots/worker.js.
const WORKER = new URL('../../dist/plots/worker.js', import.meta.url);

interface Pending {
  resolve: (svg: string) => void;
  reject: (error: Error) => void;
}

/**
 * Renders Vega-Lite plots to SVG on worker threads, one per core by default (Vega takes tens of
 * milliseconds a plot; a history of thousands of results would otherwise take minutes).
 */
export class PlotRenderer {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(threads = availableParallelism()) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      // Flags meant for an inline main script (--input-type, --eval) make no sense for a worker file.
      const worker = new Worker(WORKER, {
        execArgv: process.execArgv.filter((a) => !/^--(input-type|eval)/.test(a)),
      });
      const slot = { worker, busy: 0 };
      worker.on('message', (message: { id: number; svg?: string; error?: string }) => {
        slot.busy -= 1;
        const job = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.svg !== undefined) job?.resolve(message.svg);
        else job?.reject(new ToolError(`a plot could not be rendered: ${message.error}`));
      });
      worker.on('error', (error) => this.failAll(error));
      this.workers.push(slot);
    }
  }

  /** The SVG of one plot; plots of the same shape reuse one compiled specification. */
  render(job: PlotJob): Promise<string> {
    const id = this.nextId++;
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, key: JSON.stringify(job.spec), spec: job.spec, values: job.values });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private failAll(error: Error): void {
    for (const job of this.pending.values())
      job.reject(new ToolError(`the plot renderer failed: ${error.message}`));
    this.pending.clear();
  }
}
