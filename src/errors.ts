import type { Problem } from './problems.js';

/** Base class of the errors Axiom Lab raises on purpose; anything else is a bug. */
export class AxiomError extends Error {
  override name = 'AxiomError';
}

/** The command line was wrong: exit status 2. `command` names the command whose --help explains it. */
export class UsageError extends AxiomError {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A configuration file or environment variable is wrong or missing. */
export class ConfigurationError extends AxiomError {
  override name = 'ConfigurationError';
}

/** A tool Axiom Lab depends on (Python, git, ...) is missing or failed. */
export class ToolError extends AxiomError {
  override name = 'ToolError';
  constructor(
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
}

/** An input file failed validation; the problems say where and what was expected. */
export class InvalidInputError extends AxiomError {
  override name = 'InvalidInputError';
  constructor(
    message: string,
    readonly problems: Problem[],
  ) {
    super(message);
  }
}

/** GitHub or git refused or failed a request; `status` is the HTTP status when there was one. */
export class ForgeError extends AxiomError {
  override name = 'ForgeError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
