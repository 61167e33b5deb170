import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { ConfigurationError } from '../errors.js';

/** What one stage of a pass did, kept so that a report lost to a kill can be posted by the next pass. */
export interface StageOutcome {
  stage: 'deploy' | 'credit' | 'collect' | 'assimilate';
  commit: string;
  ok: boolean;
  /** One line for the report's title. */
  line: string;
  /** Markdown for the report's summary. */
  detail: string;
  at: string;
}

/**
 * Where the agent is, as a cache of what it has finished: which commit of main each stage has
 * reconciled, which commit it last reported on, and when it last collected. Every stage is
 * idempotent, so losing this file costs one pass that finds everything done already; nothing in it
 * decides what the world should be (that is main's).
 */
export interface AgentState {
  version: 1;
  /** The commit of main the agent last acted on: main may only move forward from it. */
  commit?: string;
  deployed?: string;
  credited?: string;
  /** The commit on which BOINC's assimilator was last found ready. */
  assimilatorChecked?: string;
  reported?: string;
  /** When the last collection was published (ISO time). */
  collected?: string;
  stages: Partial<Record<StageOutcome['stage'], StageOutcome>>;
}

const EMPTY: AgentState = { version: 1, stages: {} };

export function readState(path: string): AgentState {
  if (!existsSync(path)) return { ...EMPTY, stages: {} };
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as AgentState;
    if (state.version !== 1 || typeof state.stages !== 'object') throw new Error('not version 1');
    return state;
  } catch (error) {
    throw new ConfigurationError(
      `${path} is not the agent's state (${(error as Error).message}); remove it and the next pass redoes what is not done`,
    );
  }
}

export function writeState(path: string, state: AgentState): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomically(path, `${JSON.stringify(state, null, 2)}\n`);
}
