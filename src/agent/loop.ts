import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs passes until stopped: one now, then one every `intervalMs`, and one at once when woken (a
 * signed notice from the listener, or a pass whose main moved on). A pass that throws is logged and
 * the loop goes on; stopping lets the pass under way finish.
 */
export class AgentLoop {
  private wake?: () => void;
  private stopped = false;
  private again = false;

  constructor(
    private readonly pass: () => Promise<{ action: string }>,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Asks for a pass as soon as the current one (if any) ends. */
  poke(): void {
    this.again = true;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      this.again = false;
      try {
        const { action } = await this.pass();
        if (action === 'moved') this.again = true;
      } catch (error) {
        this.log(`agent: the pass failed: ${(error as Error).message}`);
      }
      if (this.stopped) break;
      if (!this.again) await this.idle();
    }
  }

  private async idle(): Promise<void> {
    const controller = new AbortController();
    this.wake = () => controller.abort();
    try {
      await sleep(this.intervalMs, undefined, { signal: controller.signal });
    } catch {
      // woken early
    } finally {
      this.wake = undefined;
    }
  }
}
