/**
 * JSON.parse keeps the last of two equal keys without a word; a result whose numbers depend on which
 * copy a reader takes is ambiguous, so strict readers refuse it. This finds the first duplicate key
 * of any object in text that JSON.parse has already accepted, in one pass.
 */
export function firstDuplicateKey(text: string): string | undefined {
  const stack: { keys?: Set<string>; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    } else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
    }
  }
  return undefined;
}

/** A key that appears twice in one object; `key` is the text's own, so it is not in the message. */
export class DuplicateKeyError extends SyntaxError {
  override name = 'DuplicateKeyError';
  constructor(readonly key: string) {
    super(`duplicate key ${JSON.stringify(key.slice(0, 64))}`);
  }
}

/** JSON.parse that also refuses duplicate keys; the error says which key. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined) throw new DuplicateKeyError(duplicate);
  return value;
}

/**
 * What is wrong with text that parseStrictJson refused, quoting none of it but a duplicate key that
 * is a plain name: the engine's own messages quote the input (`Unexpected token 'r', "root:x:0:0"...
 * is not valid JSON`), and a reason may be published in a pull request.
 */
export function describeJsonError(error: unknown): string {
  if (error instanceof DuplicateKeyError)
    return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(error.key)
      ? `duplicate key "${error.key}"`
      : 'a duplicate key';
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('Unexpected end of JSON input')) return 'it ends early';
  const position = /at position (\d+)/.exec(message)?.[1];
  return position === undefined ? 'unexpected text' : `unexpected text at character ${Number(position) + 1}`;
}
