// A JSON-safe deep copy of anything (what JSON.stringify would keep: undefined members dropped,
// non-finite numbers null, dates as ISO strings, Maps as objects, Sets as arrays; cycles become
// "[circular]", binary data a size marker), with hooks for strings, keys and members under
// secret-looking keys, and optional bounds. The audit log's masking and the worker's output guard
// are two uses of this one walk.

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface CopyHooks {
  /** Every string value. */
  string(text: string): string;
  /** Every object key. */
  key(rawKey: string): string;
  /**
   * What a member becomes instead of its copy (a redaction marker), or undefined to copy it.
   * `parent` is the object that holds it (a JSON Web Key's "d" is secret only beside "kty").
   */
  member(rawKey: string, item: unknown, parent: object): JsonValue | undefined;
  /** Called once per value shortened or dropped by a bound. */
  truncated(): void;
}

export interface CopyLimits {
  maxDepth: number;
  maxKeys: number;
  maxItems: number;
  maxNodes: number;
  /**
   * Copy each object's members in the order of their raw keys sorted by UTF-16 code units (RFC
   * 8785's order) instead of their own order; `maxKeys` then keeps the first keys in that order.
   */
  sortKeys?: boolean;
}

export const UNBOUNDED: Omit<CopyLimits, "maxDepth"> = {
  maxKeys: Number.POSITIVE_INFINITY,
  maxItems: Number.POSITIVE_INFINITY,
  maxNodes: Number.POSITIVE_INFINITY,
};

interface Walk {
  hooks: CopyHooks;
  limits: CopyLimits;
  nodes: number;
  ancestors: Set<object>;
}

function copyValue(value: unknown, depth: number, walk: Walk): JsonValue | undefined {
  walk.nodes++;
  if (walk.nodes > walk.limits.maxNodes) {
    walk.hooks.truncated();
    return "[truncated: too many values]";
  }
  switch (typeof value) {
    case "string":
      return walk.hooks.string(value);
    case "number":
      return Number.isFinite(value) ? value : null;
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "object":
      break;
  }
  if (value === null) return null;
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `[binary ${String(value.byteLength)} bytes]`;
  }
  if (walk.ancestors.has(value)) return "[circular]";
  if (depth >= walk.limits.maxDepth) {
    walk.hooks.truncated();
    return "[truncated: too deep]";
  }
  walk.ancestors.add(value);
  try {
    if (value instanceof Error) {
      return copyObject({ name: value.name, message: value.message }, depth, walk);
    }
    if (value instanceof Map) {
      const entries: Record<string, unknown> = {};
      for (const [key, item] of value) entries[String(key)] = item;
      return copyObject(entries, depth, walk);
    }
    if (value instanceof Set || Array.isArray(value)) {
      return copyArray([...(value as Iterable<unknown>)], depth, walk);
    }
    const { toJSON } = value as { toJSON?: unknown };
    if (typeof toJSON === "function") {
      const json: unknown = toJSON.call(value);
      // depth + 1: a toJSON that returns fresh objects forever still ends at maxDepth.
      if (json !== value) return copyValue(json, depth + 1, walk);
    }
    return copyObject(value, depth, walk);
  } finally {
    walk.ancestors.delete(value);
  }
}

function copyArray(items: readonly unknown[], depth: number, walk: Walk): JsonValue[] {
  const out: JsonValue[] = [];
  const kept = Math.min(items.length, walk.limits.maxItems);
  for (let index = 0; index < kept; index++) {
    out.push(copyValue(items[index], depth + 1, walk) ?? null);
  }
  if (items.length > kept) {
    walk.hooks.truncated();
    out.push(`…[truncated ${String(items.length - kept)} items]`);
  }
  return out;
}

function copyObject(source: object, depth: number, walk: Walk): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const keys = Object.keys(source);
  if (walk.limits.sortKeys === true) keys.sort();
  const kept = Math.min(keys.length, walk.limits.maxKeys);
  for (let index = 0; index < kept; index++) {
    const rawKey = keys[index] ?? "";
    const item: unknown = (source as Record<string, unknown>)[rawKey];
    const key = walk.hooks.key(rawKey);
    const replaced = walk.hooks.member(rawKey, item, source);
    if (replaced !== undefined) {
      walk.nodes++;
      defineMember(out, key, replaced);
      continue;
    }
    const copied = copyValue(item, depth + 1, walk);
    if (copied !== undefined) defineMember(out, key, copied);
  }
  if (keys.length > kept) {
    walk.hooks.truncated();
    defineMember(out, "…", `[truncated ${String(keys.length - kept)} keys]`);
  }
  return out;
}

/** Own data property even for "__proto__" (the only key a plain assignment would not define). */
function defineMember(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  if (key !== "__proto__") {
    target[key] = value;
    return;
  }
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** The copy; `null` for a value JSON would drop at the top level. */
export function jsonCopy(value: unknown, hooks: CopyHooks, limits: CopyLimits): JsonValue {
  return copyValue(value, 0, { hooks, limits, nodes: 0, ancestors: new Set() }) ?? null;
}
