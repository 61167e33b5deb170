import type { ProposalFile } from './forge.js';

export interface FittedBody {
  body: string;
  /** The full text, to commit beside the proposal, when the body had to be cut. */
  file?: ProposalFile;
}

/** Where the full text of an over-long pull request body is committed. */
export function bodyFilePath(branch: string): string {
  return `.axiom/pull-requests/${branch.replace(/^axiom\//, '').replaceAll('/', '--')}.md`;
}

/**
 * Keeps `body` within `limit` characters. A longer body is cut at a line break, ends with a link
 * to the full text, and the full text is returned as a file to commit on the branch.
 */
export function fitBody(
  body: string,
  options: { limit: number; branch: string; link: (path: string) => string },
): FittedBody {
  if (body.length <= options.limit) return { body };
  const path = bodyFilePath(options.branch);
  const notice = `\n\n---\n**This description is longer than the forge allows. The full text is in [\`${path}\`](${options.link(path)}).**\n`;
  return { body: `${cutText(body, options.limit - notice.length)}${notice}`, file: { path, content: body } };
}

/** The longest prefix of `text` within `max` characters, ending at a line break when there is one. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max);
  // Never split a surrogate pair.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  const lineEnd = text.lastIndexOf('\n', end);
  return text.slice(0, lineEnd > end / 2 ? lineEnd : end);
}
