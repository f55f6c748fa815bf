// A small evaluator of the Sigma subset that detections/ uses, over audit records already mapped
// to the rules' field names (sigma-rules.ts does the mapping).
//
// Supported, per the Sigma specification: search identifiers as a map (every field must match)
// or a list of maps (any); a list of values (any, or every with `|all`); plain values compared
// case-insensitively with `*` and `?` wildcards (`\` escapes); null (field absent); numbers and
// booleans compared by value; modifiers contains, startswith, endswith, all, re, gt, gte, lt,
// lte, exists, cidr (an IPv4 or IPv6 range; the event's address is normalised first, so
// ::ffff:10.0.0.1 is in 10.0.0.0/8 and a value that is not an address matches no range); conditions with and, or, not, parentheses, `1 of x*`, `all of x*`, `1 of them`,
// `all of them`; and correlation rules of type event_count (group-by, timespan, gt/gte).
//
// Fail closed: anything outside that subset (an unknown modifier, keyword searches, a condition
// that does not parse, an identifier that is not defined) throws SigmaError with a stable code
// when the rule is compiled, so a rule can never silently match nothing.
import { createAddressSet, normalizeAddress } from "../../../common/net-address.ts";

export type SigmaErrorCode = "sigma_rule_invalid" | "sigma_unsupported" | "sigma_condition_invalid";

export class SigmaError extends Error {
  readonly code: SigmaErrorCode;
  constructor(code: SigmaErrorCode, message: string) {
    super(message);
    this.name = "SigmaError";
    this.code = code;
  }
}

/** An event as the rules see it: rule field name → value (an array means any of its items). */
export type SigmaEvent = ReadonlyMap<string, unknown>;
export type Matcher = (event: SigmaEvent) => boolean;

const MODIFIERS = new Set([
  "contains",
  "startswith",
  "endswith",
  "all",
  "re",
  "gt",
  "gte",
  "lt",
  "lte",
  "exists",
  "cidr",
]);

/** `field|cidr: range`: a string range, or sigma_rule_invalid when the rule loads. */
function cidrTest(value: unknown, field: string): (actual: unknown) => boolean {
  if (typeof value !== "string")
    throw new SigmaError("sigma_rule_invalid", `${field}|cidr needs a CIDR string`);
  let range: ReturnType<typeof createAddressSet>;
  try {
    range = createAddressSet([value]);
  } catch (error) {
    throw new SigmaError("sigma_rule_invalid", `${field}|cidr: ${(error as Error).message}`);
  }
  return (actual) => {
    const address = typeof actual === "string" ? normalizeAddress(actual) : undefined;
    return address !== undefined && range.has(address);
  };
}

function wildcardRegex(
  pattern: string,
  mode: "exact" | "contains" | "startswith" | "endswith",
): RegExp {
  let body = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === "\\" && i + 1 < pattern.length && "*?\\".includes(pattern.charAt(i + 1))) {
      body += pattern.charAt(++i).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else if (ch === "*") body += ".*";
    else if (ch === "?") body += ".";
    else body += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  const start = mode === "exact" || mode === "startswith" ? "^" : "";
  const end = mode === "exact" || mode === "endswith" ? "$" : "";
  return new RegExp(`${start}${body}${end}`, "is");
}

function valueTest(
  value: unknown,
  modifiers: readonly string[],
  field: string,
): (actual: unknown) => boolean {
  if (modifiers.includes("cidr")) {
    if (modifiers.some((m) => m !== "cidr" && m !== "all"))
      throw new SigmaError("sigma_unsupported", `${field}: cidr combines only with all`);
    return cidrTest(value, field);
  }
  const numeric = modifiers.find((m) => ["gt", "gte", "lt", "lte"].includes(m));
  if (numeric !== undefined) {
    if (typeof value !== "number")
      throw new SigmaError("sigma_rule_invalid", `${field}|${numeric} needs a number`);
    const compare = {
      gt: (a: number) => a > value,
      gte: (a: number) => a >= value,
      lt: (a: number) => a < value,
      lte: (a: number) => a <= value,
    }[numeric as "gt"];
    return (actual) => typeof actual === "number" && compare(actual);
  }
  if (value === null) return (actual) => actual === undefined || actual === null;
  if (typeof value === "boolean") return (actual) => actual === value;
  if (typeof value === "number")
    return (actual) => actual === value || (typeof actual === "string" && actual === String(value));
  if (typeof value !== "string")
    throw new SigmaError(
      "sigma_unsupported",
      `${field}: values are strings, numbers, booleans or null`,
    );
  if (modifiers.includes("re")) {
    const re = new RegExp(value);
    return (actual) => typeof actual === "string" && re.test(actual);
  }
  const mode = modifiers.includes("contains")
    ? "contains"
    : modifiers.includes("startswith")
      ? "startswith"
      : modifiers.includes("endswith")
        ? "endswith"
        : "exact";
  const re = wildcardRegex(value, mode);
  return (actual) =>
    (typeof actual === "string" || typeof actual === "number" || typeof actual === "boolean") &&
    re.test(String(actual));
}

/** One `field|modifiers: value(s)` item. `known` lists the field names the mapping defines. */
export function compileFieldItem(key: string, raw: unknown, known: ReadonlySet<string>): Matcher {
  const [field = "", ...modifiers] = key.split("|");
  if (!known.has(field))
    throw new SigmaError("sigma_rule_invalid", `unknown field ${field} (not in the field mapping)`);
  for (const m of modifiers)
    if (!MODIFIERS.has(m))
      throw new SigmaError("sigma_unsupported", `modifier ${m} is not supported`);
  if (modifiers.includes("exists")) {
    if (typeof raw !== "boolean")
      throw new SigmaError("sigma_rule_invalid", `${field}|exists needs true or false`);
    return (event) => (event.get(field) !== undefined && event.get(field) !== null) === raw;
  }
  const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  if (values.length === 0)
    throw new SigmaError("sigma_rule_invalid", `${field}: an empty list matches nothing`);
  const tests = values.map((v) => valueTest(v, modifiers, field));
  const all = modifiers.includes("all");
  return (event) => {
    const actual = event.get(field);
    const items = Array.isArray(actual) ? (actual as unknown[]) : [actual];
    const one = (test: (a: unknown) => boolean) => items.some((item) => test(item));
    return all ? tests.every(one) : tests.some(one);
  };
}

/** A search identifier: a map (all items), or a list of maps (any map). */
export function compileSearch(name: string, raw: unknown, known: ReadonlySet<string>): Matcher {
  const compileMap = (map: unknown): Matcher => {
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new SigmaError(
        "sigma_unsupported",
        `${name}: keyword searches are not supported; use field maps`,
      );
    }
    const items = Object.entries(map).map(([key, value]) => compileFieldItem(key, value, known));
    if (items.length === 0) throw new SigmaError("sigma_rule_invalid", `${name} is empty`);
    return (event) => items.every((item) => item(event));
  };
  if (Array.isArray(raw)) {
    const maps = (raw as unknown[]).map(compileMap);
    if (maps.length === 0) throw new SigmaError("sigma_rule_invalid", `${name} is empty`);
    return (event) => maps.some((m) => m(event));
  }
  return compileMap(raw);
}

// ---- conditions ------------------------------------------------------------------------------

function tokenize(condition: string): string[] {
  const tokens = condition.match(/\(|\)|[^\s()]+/g);
  if (tokens === null) throw new SigmaError("sigma_condition_invalid", "empty condition");
  return tokens;
}

function selectIdentifiers(pattern: string, searches: ReadonlyMap<string, Matcher>): Matcher[] {
  const names = [...searches.keys()];
  const chosen =
    pattern === "them" ? names : names.filter((n) => wildcardRegex(pattern, "exact").test(n));
  if (chosen.length === 0)
    throw new SigmaError("sigma_condition_invalid", `no search identifier matches ${pattern}`);
  return chosen.flatMap((n) => searches.get(n) ?? []);
}

/** Parses `condition` (recursive descent: or < and < not < primary) into a matcher. */
export function compileCondition(
  condition: string,
  searches: ReadonlyMap<string, Matcher>,
): Matcher {
  const tokens = tokenize(condition);
  let at = 0;
  const peek = () => tokens[at]?.toLowerCase();
  const fail = (what: string): never => {
    throw new SigmaError("sigma_condition_invalid", `${what} in condition "${condition}"`);
  };
  const primary = (): Matcher => {
    const token = tokens[at++];
    if (token === undefined) return fail("unexpected end");
    if (token === "(") {
      const inner = or();
      if (tokens[at++] !== ")") fail("missing )");
      return inner;
    }
    if (token === "1" || token.toLowerCase() === "all") {
      if (peek() !== "of") fail(`expected "of" after ${token}`);
      at++;
      const pattern = tokens[at++] ?? fail("expected identifiers after of");
      const chosen = selectIdentifiers(pattern, searches);
      return token === "1" ? (e) => chosen.some((m) => m(e)) : (e) => chosen.every((m) => m(e));
    }
    const search = searches.get(token);
    return search ?? fail(`unknown identifier ${token}`);
  };
  const not = (): Matcher => {
    if (peek() === "not") {
      at++;
      const inner = not();
      return (e) => !inner(e);
    }
    return primary();
  };
  const and = (): Matcher => {
    let left = not();
    while (peek() === "and") {
      at++;
      const l = left;
      const r = not();
      left = (e) => l(e) && r(e);
    }
    return left;
  };
  function or(): Matcher {
    let left = and();
    while (peek() === "or") {
      at++;
      const l = left;
      const r = and();
      left = (e) => l(e) || r(e);
    }
    return left;
  }
  const result = or();
  if (at !== tokens.length) fail(`unexpected ${tokens[at] ?? ""}`);
  return result;
}

/** The matcher of a rule's `detection` block. */
export function compileDetection(detection: unknown, known: ReadonlySet<string>): Matcher {
  if (typeof detection !== "object" || detection === null)
    throw new SigmaError("sigma_rule_invalid", "detection is missing");
  const { condition, ...rest } = detection as Record<string, unknown>;
  if (typeof condition !== "string")
    throw new SigmaError("sigma_unsupported", "condition must be one string");
  if (condition.includes("|"))
    throw new SigmaError("sigma_unsupported", "aggregations in conditions: use a correlation rule");
  const searches = new Map(
    Object.entries(rest).map(([name, value]) => [name, compileSearch(name, value, known)]),
  );
  return compileCondition(condition, searches);
}

// ---- correlations ----------------------------------------------------------------------------

export interface TimedEvent {
  time: number;
  event: SigmaEvent;
}

export interface EventCount {
  groupBy: readonly string[];
  timespanMs: number;
  threshold: { op: "gt" | "gte"; value: number };
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseTimespan(text: unknown): number {
  const match = typeof text === "string" ? /^(\d+)([smhd])$/.exec(text) : null;
  if (match === null)
    throw new SigmaError("sigma_rule_invalid", `timespan ${String(text)}: use e.g. 5m`);
  return Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1_000);
}

export interface CorrelationHit {
  group: Record<string, unknown>;
  count: number;
  first: number;
  last: number;
}

/** Groups whose matching events reach the threshold inside one window of `timespanMs`. */
export function evaluateEventCount(
  events: readonly TimedEvent[],
  rule: EventCount,
): CorrelationHit[] {
  const groups = new Map<string, TimedEvent[]>();
  for (const e of events) {
    const key = JSON.stringify(rule.groupBy.map((f) => e.event.get(f) ?? null));
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [e]);
    else list.push(e);
  }
  const hits: CorrelationHit[] = [];
  const reached = (n: number) =>
    rule.threshold.op === "gt" ? n > rule.threshold.value : n >= rule.threshold.value;
  for (const [key, list] of groups) {
    list.sort((a, b) => a.time - b.time);
    let best: CorrelationHit | undefined;
    for (let start = 0, end = 0; end < list.length; end++) {
      while ((list[end]?.time ?? 0) - (list[start]?.time ?? 0) > rule.timespanMs) start++;
      const count = end - start + 1;
      if (reached(count) && (best === undefined || count > best.count)) {
        const values = JSON.parse(key) as unknown[];
        best = {
          group: Object.fromEntries(rule.groupBy.map((f, i) => [f, values[i]])),
          count,
          first: list[start]?.time ?? 0,
          last: list[end]?.time ?? 0,
        };
      }
    }
    if (best !== undefined) hits.push(best);
  }
  return hits;
}
