// The detections of detections/: Sigma rules (rules/*.yml) and the field mapping from their
// field names to the audit schema (field-mapping.yml), loaded, compiled (sigma.ts) and run over
// audit logs.
//
// Invariants. Every field a rule names must be in the mapping: a dotted path into the record
// (`a.b`, `a[].b` for each item of an array) or a derived field computed here from the record and
// the policy's own configuration (rego/zyx/config/data.json, the one copy): `tool_write` (the
// catalog's write flag of the tool), `business_hours` (the record's time against the configured
// business hours and offset), `aws_environment` (the environment of the account in the
// arguments), `agent_network` (the record's `source.ip` against the networks its agent declares
// in the catalog: expected, unexpected, or undeclared; absent when the record has no source or
// no agent). Rules must have a UUID id, a title, a level and the mapping's logsource.
//
// Failure modes: a rule or mapping that does not load or compile throws (SigmaError codes, or
// `sigma_rule_invalid` for a file that is not YAML), so a broken rule fails the run, never
// silently matches nothing. Base rules referenced by a correlation do not report on their own
// unless the correlation says `generate: true` (as in the Sigma specification).
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { loadCatalog } from "../../../common/catalog.ts";
import {
  createAddressSet,
  normalizeAddress,
  type AddressSet,
} from "../../../common/net-address.ts";
import type { LoadedRecord } from "./records.ts";
import { asString, loadRecords, member, path, type LogSource } from "./records.ts";
import type { CorrelationHit, EventCount, Matcher, SigmaEvent, TimedEvent } from "./sigma.ts";
import { SigmaError, compileDetection, evaluateEventCount, parseTimespan } from "./sigma.ts";

export const DETECTIONS_DIR = resolve(import.meta.dirname, "../../../detections");
export const DEFAULT_RULES_DIR = join(DETECTIONS_DIR, "rules");
export const MAPPING_PATH = join(DETECTIONS_DIR, "field-mapping.yml");

export interface FieldMapping {
  logsource: { product: string; service: string };
  fields: Map<string, string>;
  derived: Set<string>;
}

export interface EventRule {
  kind: "event";
  id: string;
  name: string | undefined;
  title: string;
  level: string;
  file: string;
  match: Matcher;
}

export interface CorrelationRule {
  kind: "correlation";
  id: string;
  title: string;
  level: string;
  file: string;
  rules: string[];
  generate: boolean;
  count: EventCount;
}

export interface RuleSet {
  mapping: FieldMapping;
  rules: (EventRule | CorrelationRule)[];
}

export interface DetectionHit {
  summary: string;
  file?: string;
  line?: number;
  timestamp?: string;
  group?: Record<string, unknown>;
  count?: number;
}

export interface DetectionMatch {
  id: string;
  title: string;
  level: string;
  kind: "event" | "correlation";
  hits: DetectionHit[];
}

const DERIVED = ["tool_write", "business_hours", "aws_environment", "agent_network"] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function invalid(message: string): SigmaError {
  return new SigmaError("sigma_rule_invalid", message);
}

async function readYamlDocuments(file: string): Promise<Record<string, unknown>[]> {
  const docs = parseAllDocuments(await readFile(file, "utf8"));
  if (!Array.isArray(docs)) throw invalid(`${file}: empty`);
  return docs.map((doc, index) => {
    if (doc.errors.length > 0) throw invalid(`${file}: ${doc.errors[0]?.message ?? "not YAML"}`);
    const value: unknown = doc.toJS();
    if (typeof value !== "object" || value === null)
      throw invalid(`${file}: document ${String(index + 1)} is not a map`);
    return value as Record<string, unknown>;
  });
}

export async function loadMapping(file = MAPPING_PATH): Promise<FieldMapping> {
  const [doc] = await readYamlDocuments(file);
  const product = asString(path(doc, "logsource.product"));
  const service = asString(path(doc, "logsource.service"));
  const fields = member(doc, "fields");
  const derived = member(doc, "derived");
  if (product === undefined || service === undefined)
    throw invalid(`${file}: logsource.product and .service`);
  if (typeof fields !== "object" || fields === null) throw invalid(`${file}: fields`);
  const mapped = new Map<string, string>();
  for (const [name, target] of Object.entries(fields)) {
    if (typeof target !== "string") throw invalid(`${file}: fields.${name} must be a path`);
    mapped.set(name, target);
  }
  const names = Array.isArray(derived) ? (derived as unknown[]) : [];
  for (const name of names) {
    if (!DERIVED.includes(name as (typeof DERIVED)[number]))
      throw invalid(`${file}: no derived field ${String(name)}`);
  }
  return { logsource: { product, service }, fields: mapped, derived: new Set(names as string[]) };
}

function header(doc: Record<string, unknown>, file: string) {
  const id = asString(doc["id"]);
  const title = asString(doc["title"]);
  const level = asString(doc["level"]);
  if (id === undefined || !UUID.test(id)) throw invalid(`${file}: id must be a UUID`);
  if (title === undefined || level === undefined) throw invalid(`${file} (${id}): title and level`);
  return { id, title, level, name: asString(doc["name"]) };
}

function compileDocument(
  doc: Record<string, unknown>,
  file: string,
  mapping: FieldMapping,
  known: ReadonlySet<string>,
) {
  const { id, title, level, name } = header(doc, file);
  const correlation = doc["correlation"];
  if (correlation !== undefined) {
    if (path(correlation, "type") !== "event_count")
      throw new SigmaError("sigma_unsupported", `${file}: only event_count correlations`);
    const rules = member(correlation, "rules");
    const groupBy = member(correlation, "group-by") ?? [];
    const condition = member(correlation, "condition");
    const op =
      member(condition, "gte") !== undefined
        ? "gte"
        : member(condition, "gt") !== undefined
          ? "gt"
          : undefined;
    const value = op === undefined ? undefined : member(condition, op);
    if (
      !Array.isArray(rules) ||
      rules.length === 0 ||
      !Array.isArray(groupBy) ||
      op === undefined ||
      typeof value !== "number"
    ) {
      throw invalid(`${file} (${id}): correlation needs rules, group-by and a gt/gte condition`);
    }
    for (const field of groupBy as unknown[])
      if (!known.has(String(field)))
        throw invalid(`${file}: group-by ${String(field)} is not mapped`);
    const rule: CorrelationRule = {
      kind: "correlation",
      id,
      title,
      level,
      file,
      rules: rules as string[],
      generate: member(correlation, "generate") === true,
      count: {
        groupBy: groupBy as string[],
        timespanMs: parseTimespan(member(correlation, "timespan")),
        threshold: { op, value },
      },
    };
    return rule;
  }
  const logsource = doc["logsource"];
  if (
    path(logsource, "product") !== mapping.logsource.product ||
    path(logsource, "service") !== mapping.logsource.service
  ) {
    throw invalid(
      `${file} (${id}): logsource must be ${mapping.logsource.product}/${mapping.logsource.service}`,
    );
  }
  try {
    const rule: EventRule = {
      kind: "event",
      id,
      name,
      title,
      level,
      file,
      match: compileDetection(doc["detection"], known),
    };
    return rule;
  } catch (error) {
    if (error instanceof SigmaError)
      throw new SigmaError(error.code, `${file} (${id}): ${error.message}`);
    throw error;
  }
}

/** Loads and compiles every rules/*.yml of `dir` against the mapping. */
export async function loadRuleSet(
  dir = DEFAULT_RULES_DIR,
  mappingFile = MAPPING_PATH,
): Promise<RuleSet> {
  const mapping = await loadMapping(mappingFile);
  const known = new Set([...mapping.fields.keys(), ...mapping.derived]);
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yml")).sort();
  const rules: RuleSet["rules"] = [];
  for (const f of files) {
    for (const doc of await readYamlDocuments(join(dir, f)))
      rules.push(compileDocument(doc, f, mapping, known));
  }
  const names = new Set(
    rules.flatMap((r) =>
      r.kind === "event" ? [r.id, ...(r.name === undefined ? [] : [r.name])] : [],
    ),
  );
  for (const r of rules) {
    if (r.kind === "correlation")
      for (const ref of r.rules)
        if (!names.has(ref)) throw invalid(`${r.file} (${r.id}): no rule ${ref}`);
  }
  return { mapping, rules };
}

// ---- mapping records to events --------------------------------------------------------------

function pathValues(record: unknown, dotted: string): unknown {
  let current: unknown[] = [record];
  let many = false;
  for (const segment of dotted.split(".")) {
    const each = segment.endsWith("[]");
    const key = each ? segment.slice(0, -2) : segment;
    current = current.flatMap((value) => {
      const next = member(value, key);
      if (each) return Array.isArray(next) ? (next as unknown[]) : [];
      return next === undefined ? [] : [next];
    });
    many ||= each;
  }
  return many ? current : current[0];
}

interface Config {
  tools: Record<string, { write: boolean }>;
  accounts: Map<string, string>;
  hours: { offsetMinutes: number; weekdays: number[]; start: number; end: number };
  /** Each agent's declared networks (catalog agents.<id>.networks); absent: undeclared. */
  agentNetworks: Map<string, AddressSet>;
}

function loadConfig(): Config {
  const catalog = loadCatalog();
  const hours = catalog.business_hours;
  return {
    tools: catalog.tools,
    accounts: new Map(Object.values(catalog.aws_accounts).map((a) => [a.id, a.environment])),
    agentNetworks: new Map(
      Object.entries(catalog.agents).flatMap(([id, agent]) =>
        agent.networks === undefined ? [] : [[id, createAddressSet(agent.networks)] as const],
      ),
    ),
    hours: {
      offsetMinutes: hours.utc_offset_minutes,
      weekdays: hours.weekdays,
      start: hours.start_hour,
      end: hours.end_hour,
    },
  };
}

function withinBusinessHours(timestamp: unknown, hours: Config["hours"]): boolean | undefined {
  const ms = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN;
  if (Number.isNaN(ms)) return undefined;
  const local = new Date(ms + hours.offsetMinutes * 60_000);
  const weekday = local.getUTCDay() === 0 ? 7 : local.getUTCDay();
  const hour = local.getUTCHours();
  return hours.weekdays.includes(weekday) && hour >= hours.start && hour < hours.end;
}

/** The record's source against its agent's declared networks (see the header). */
function agentNetwork(
  record: Record<string, unknown>,
  networks: Config["agentNetworks"],
): "expected" | "unexpected" | "undeclared" | undefined {
  const agent = asString(record["agent"]) ?? asString(path(record, "agent.id"));
  const ip = normalizeAddress(asString(path(record, "source.ip")));
  if (agent === undefined || ip === undefined) return undefined;
  const declared = networks.get(agent);
  if (declared === undefined) return "undeclared";
  return declared.has(ip) ? "expected" : "unexpected";
}

export function toEvent(
  record: Record<string, unknown>,
  mapping: FieldMapping,
  config: Config,
): SigmaEvent {
  const event = new Map<string, unknown>();
  for (const [name, target] of mapping.fields) event.set(name, pathValues(record, target));
  const tool = asString(record["tool"]);
  if (mapping.derived.has("tool_write"))
    event.set("tool_write", tool === undefined ? undefined : config.tools[tool]?.write);
  if (mapping.derived.has("business_hours"))
    event.set("business_hours", withinBusinessHours(record["timestamp"], config.hours));
  if (mapping.derived.has("aws_environment")) {
    const account = asString(path(record, "arguments.account"));
    event.set(
      "aws_environment",
      account === undefined ? undefined : (config.accounts.get(account) ?? "unknown"),
    );
  }
  if (mapping.derived.has("agent_network"))
    event.set("agent_network", agentNetwork(record, config.agentNetworks));
  return event;
}

// ---- running ---------------------------------------------------------------------------------

function summarize(entry: LoadedRecord): string {
  const r = entry.record;
  const who = asString(path(r, "user.email")) ?? asString(path(r, "user.subject")) ?? "-";
  const what = asString(r["tool"]) ?? asString(r["kind"]) ?? "-";
  const outcome = asString(path(r, "outcome.code")) ?? asString(path(r, "outcome.status")) ?? "";
  return `${asString(r["timestamp"]) ?? "?"} ${String(r["event"])} ${what} ${who} ${asString(r["agent"]) ?? ""} ${outcome} (${entry.file}:${String(entry.line)})`.replace(
    / +/g,
    " ",
  );
}

function correlationHits(
  rule: CorrelationRule,
  matched: Map<string, TimedEvent[]>,
  ids: Map<string, string>,
): CorrelationHit[] {
  const events = rule.rules.flatMap((ref) => matched.get(ids.get(ref) ?? ref) ?? []);
  return evaluateEventCount(events, rule.count);
}

function append<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

/** Runs the rule set over the logs (merged in time order); the rules that fired, with their hits. */
export async function runDetections(
  set: RuleSet,
  files: readonly LogSource[],
): Promise<DetectionMatch[]> {
  const config = loadConfig();
  const { records } = await loadRecords(files);
  const eventRules = set.rules.filter((r): r is EventRule => r.kind === "event");
  const correlations = set.rules.filter((r): r is CorrelationRule => r.kind === "correlation");
  const ids = new Map(
    eventRules.flatMap((r) => [
      [r.id, r.id],
      ...(r.name === undefined ? [] : [[r.name, r.id] as [string, string]]),
    ]),
  );
  const silenced = new Set(
    correlations
      .filter((c) => !c.generate)
      .flatMap((c) => c.rules.map((ref) => ids.get(ref) ?? ref)),
  );
  const matched = new Map<string, TimedEvent[]>();
  const hits = new Map<string, DetectionHit[]>();
  for (const entry of records) {
    const event = toEvent(entry.record, set.mapping, config);
    const time = Date.parse(asString(entry.record["timestamp"]) ?? "") || 0;
    for (const rule of eventRules) {
      if (!rule.match(event)) continue;
      append(matched, rule.id, { time, event });
      const hit: DetectionHit = { summary: summarize(entry), file: entry.file, line: entry.line };
      const timestamp = asString(entry.record["timestamp"]);
      if (timestamp !== undefined) hit.timestamp = timestamp;
      append(hits, rule.id, hit);
    }
  }
  const result: DetectionMatch[] = [];
  for (const rule of eventRules) {
    const list = hits.get(rule.id);
    if (list !== undefined && !silenced.has(rule.id))
      result.push({ id: rule.id, title: rule.title, level: rule.level, kind: "event", hits: list });
  }
  for (const rule of correlations) {
    const found = correlationHits(rule, matched, ids);
    if (found.length === 0) continue;
    result.push({
      id: rule.id,
      title: rule.title,
      level: rule.level,
      kind: "correlation",
      hits: found.map((h) => ({
        summary: `${JSON.stringify(h.group)}: ${String(h.count)} events from ${new Date(h.first).toISOString()} to ${new Date(h.last).toISOString()}`,
        group: h.group,
        count: h.count,
      })),
    });
  }
  return result;
}
