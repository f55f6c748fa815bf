// A memo of a pure function of one short string: the audit mask and the worker's output guard
// meet the same member names, ids and enums over and over (issue 18).
//
// Invariants: only strings up to `maxLength` are remembered (a long text is computed every time:
// it rarely recurs and would hold memory); at most `maxEntries` are held, and the memo starts over
// when full (bounded memory, no eviction bookkeeping); a remembered result is frozen and shared.
// The function must be pure: the memo returns what it returned the first time.

export interface ShortStringMemoOptions {
  maxLength: number;
  maxEntries: number;
}

/** `compute`, remembered for short strings. */
export function shortStringMemo<T extends object>(
  compute: (text: string) => T,
  { maxLength, maxEntries }: ShortStringMemoOptions,
): (text: string) => Readonly<T> {
  const memo = new Map<string, Readonly<T>>();
  return (text) => {
    if (text.length > maxLength) return compute(text);
    const known = memo.get(text);
    if (known !== undefined) return known;
    const result = Object.freeze(compute(text));
    if (memo.size >= maxEntries) memo.clear();
    memo.set(text, result);
    return result;
  };
}
