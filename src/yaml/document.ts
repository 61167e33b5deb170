import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { Problem } from '../problems.js';

export type DocPath = readonly (string | number)[];

export interface Position {
  line: number;
  column: number;
}

/** A parsed YAML file that can say where any value in it came from. */
export interface LocatedDocument {
  readonly file: string;
  readonly data: unknown;
  /** Position of the value at `path` (of its key with `at: 'key'`), or of the nearest ancestor that exists. */
  locate(path: DocPath, at?: 'value' | 'key'): Position;
}

/** Manifests and configuration are small; anything larger is a mistake or an attack. */
const MAX_YAML_BYTES = 1024 * 1024;

export function parseYaml(
  file: string,
  text: string,
  options: { maxBytes?: number } = {},
): { document?: LocatedDocument; problems: Problem[] } {
  const maxBytes = options.maxBytes ?? MAX_YAML_BYTES;
  if (Buffer.byteLength(text) > maxBytes) {
    return { problems: [yamlProblem(file, 1, 1, `file is larger than ${maxBytes} bytes`)] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  // One problem per line: after a syntax error the parser reports follow-on errors on the same line.
  const reportedLines = new Set<number>();
  const problems = [...doc.errors, ...doc.warnings].flatMap((error) => {
    const position = lineCounter.linePos(error.pos[0]);
    if (reportedLines.has(position.line)) return [];
    reportedLines.add(position.line);
    return [
      {
        ...yamlProblem(file, position.line, position.col, describeYamlError(error.message)),
        severity: doc.errors.includes(error) ? ('error' as const) : ('warning' as const),
      },
    ];
  });
  if (doc.errors.length > 0) return { problems };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    return { problems: [yamlProblem(file, 1, 1, (error as Error).message)] };
  }
  const positionOf = (node: Node | null | undefined): Position | undefined => {
    if (!node?.range) return undefined;
    const { line, col } = lineCounter.linePos(node.range[0]);
    return { line, column: col };
  };
  const locate = (path: DocPath, at: 'value' | 'key' = 'value'): Position => {
    let node: unknown = doc.contents;
    let best = positionOf(doc.contents as Node) ?? { line: 1, column: 1 };
    for (const [index, segment] of path.entries()) {
      const last = index === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (!pair) return best;
        if (last && at === 'key') return positionOf(pair.key as Node) ?? best;
        node = pair.value;
        best = positionOf(pair.value as Node) ?? positionOf(pair.key as Node) ?? best;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        if (node === undefined) return best;
        best = positionOf(node as Node) ?? best;
      } else {
        return best;
      }
    }
    return best;
  };
  return { document: { file, data, locate }, problems };
}

function describeYamlError(message: string): string {
  const firstLine = message.split('\n')[0] ?? message;
  return `invalid YAML: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}`;
}

function yamlProblem(file: string, line: number, column: number, message: string): Problem {
  return { file, line, column, rule: 'yaml', message, severity: 'error' };
}
