import { escapeMarkdown } from '../markdown.js';
import type { FollowUpStory } from './catalogue.js';
import { FOLLOW_UP_RULES, RULE_CHOICE } from './follow-up.js';

/** A result's address as a link from a pull request's page to the file on main. */
const onMain = (address: string) => `../blob/main/${address}`;

/**
 * The part of a follow-up's pull request that says where it comes from: the rule that designed it
 * (or the model), what the last round found, the results it builds on, and what its outcome would
 * change. Text a model wrote, and titles and reasons from the record, are shown inert.
 */
export function followUpSection(story: FollowUpStory): string[] {
  // The rules quote reasons from the record; a model writes its own: both are shown inert.
  const t = escapeMarkdown;
  return [
    `### Follow-up: round ${story.round} of ${story.parents.map((p) => `\`${p.experiment}\``).join(', ')}`,
    '',
    ...(story.rule
      ? [
          `Designed by the stated follow-up rule \`${story.rule}\`: ${FOLLOW_UP_RULES[story.rule]}. ${RULE_CHOICE}`,
          '',
        ]
      : []),
    ...story.parents.flatMap((p) => [
      `What the last round of \`${p.experiment}\` found (${t(p.title)}): ${p.found}.`,
      '',
      `It builds on ${p.results.length === 1 ? 'this result' : `these ${p.results.length} results`} (their stable addresses in the record):`,
      '',
      ...p.results.map(
        (r) =>
          `- [\`${r.address}\`](${onMain(r.address)})${r.host !== undefined ? ` on host ${r.host}` : ''}: ${r.outcome}${r.reason && r.outcome !== 'supported' ? ` (${t(r.reason)})` : ''}`,
      ),
      '',
    ]),
    `Why: ${t(story.why)}`,
    '',
    `**What its outcome would change:** ${t(story.wouldChange)}`,
    '',
  ];
}
