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

/** JSON.parse that also refuses duplicate keys; the error says which key. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined)
    throw new SyntaxError(`duplicate key ${JSON.stringify(duplicate.slice(0, 64))}`);
  return value;
}
