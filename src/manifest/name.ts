/** An experiment's name: the manifest's `name`, the script's base name, and part of every workunit name. */
export const EXPERIMENT_NAME_PATTERN = '[a-z][a-z0-9_]{2,47}';
export const EXPERIMENT_NAME = new RegExp(`^${EXPERIMENT_NAME_PATTERN}$`);

export function isExperimentName(text: unknown): text is string {
  return typeof text === 'string' && EXPERIMENT_NAME.test(text);
}
