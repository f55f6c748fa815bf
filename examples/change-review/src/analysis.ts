// Which rules of the rule table apply to a change: decided from the pull request's Terraform
// (what its diffs add) and the Jira ticket, nothing else. Nothing here knows a pull request
// number, a file name or a resource name: two pull requests with the same Terraform get the
// same findings.
//
// A finding needs an added line. A rule about a value ("0.0.0.0/0 on port 22", `Action =
// "s3:*"`, `publicly_accessible = true`) applies when the pull request adds the line that sets
// it, or adds the block it sits in. A rule about something missing (no public access block, no
// retention, no encryption) applies to a block the pull request adds whole: of a block it only
// touches, the diff does not show everything. Context and removed lines never raise a finding.
//
// A value the pull request does not give (a variable or local it neither defines nor sets in
// a variable file) is unknown, never safe: where it decides whether an administrative port is
// open, the rule is reported as unverified, not passed.
import { ADMIN_PORTS, RULES, type RuleId } from "./rules.ts";
import {
  addressOf,
  attributeOf,
  isResource,
  literalOf,
  resourceOf,
  scanFiles,
  scanVariableFiles,
  codeOf,
  stringsIn,
  type Attribute,
  type Block,
  type DiffLine,
  type TerraformView,
  type VariableFile,
} from "./terraform.ts";

/** Where a finding was seen. */
export interface Location {
  file: string;
  line: number;
  /** "type.name" of the resource, when the line is in one. */
  resource?: string;
}

export interface RuleHit {
  rule: RuleId;
  locations: Location[];
}

/** The parts of a pull request the analysis reads (the gateway's github_read_pr result). */
export interface ChangeFiles {
  files: readonly {
    path: string;
    patch: string | null;
    /** GitHub's file status ("removed"...) and added line count, when the result has them. */
    status?: unknown;
    additions?: unknown;
  }[];
}

/** The parts of a ticket the analysis reads (the gateway's jira_read result). */
export interface ChangeTicket {
  rollback_plan: string | null;
}

/** A rollback plan that says nothing. */
const PLACEHOLDER = /^(?:n\/?a|none|tbd|tbc|todo|-+|\.+|\?+)$/i;

function locationOf(line: DiffLine | undefined, block: Block | undefined): Location | undefined {
  if (line === undefined) return undefined;
  const resource = block === undefined ? undefined : resourceOf(block);
  return {
    file: line.file,
    line: line.line,
    ...(resource === undefined ? {} : { resource: addressOf(resource) }),
  };
}

/** The pull request added this block's header: the whole block is in the diff, as added. */
function isNew(block: Block): boolean {
  return block.header?.added === true;
}

function addedLine(attribute: Attribute | undefined): DiffLine | undefined {
  return attribute?.lines.find((line) => line.added);
}

/** Sets by an added line, or inside a block the pull request adds. */
function introduced(block: Block, attribute: Attribute | undefined): boolean {
  return isNew(block) || addedLine(attribute) !== undefined;
}

function literalString(attribute: Attribute | undefined): string | undefined {
  if (attribute === undefined) return undefined;
  const literal = literalOf(attribute);
  if (literal.kind === "string") return literal.value;
  if (literal.kind === "number") return String(literal.value);
  return undefined;
}

function literalBool(attribute: Attribute | undefined): boolean | undefined {
  if (attribute === undefined) return undefined;
  const literal = literalOf(attribute);
  if (literal.kind === "bool") return literal.value;
  if (literal.kind === "string" && (literal.value === "true" || literal.value === "false")) {
    return literal.value === "true";
  }
  return undefined;
}

function literalNumber(attribute: Attribute | undefined): number | undefined {
  const text = literalString(attribute);
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;
}

function resources(view: TerraformView, ...types: string[]): Block[] {
  return view.blocks.filter((block) => isResource(block, types));
}

// --- S3 public access block ----------------------------------------------------------------

const PUBLIC_ACCESS_FLAGS = [
  "block_public_acls",
  "block_public_policy",
  "ignore_public_acls",
  "restrict_public_buckets",
] as const;

function enforcesAll(block: Block): boolean {
  return PUBLIC_ACCESS_FLAGS.every((flag) => literalBool(attributeOf(block, flag)) === true);
}

function s3PublicAccess(view: TerraformView): Location[] {
  const found: Location[] = [];
  const blocks = resources(view, "aws_s3_bucket_public_access_block");
  const accountWide = resources(view, "aws_s3_account_public_access_block").some(enforcesAll);
  // The buckets an enforcing block covers, by resource name and by literal bucket name: one
  // pass over the blocks, not one per bucket.
  const coveredNames = new Set<string>();
  const coveredLiterals = new Set<string>();
  for (const block of blocks) {
    const target = attributeOf(block, "bucket");
    if (target === undefined || !enforcesAll(block)) continue;
    for (const match of target.value.matchAll(BUCKET_REFERENCE)) coveredNames.add(match[1] ?? "");
    const literal = literalString(target);
    if (literal !== undefined) coveredLiterals.add(literal);
  }
  for (const bucket of resources(view, "aws_s3_bucket").filter(isNew)) {
    const name = bucket.labels[1] ?? "";
    const literalName = literalString(attributeOf(bucket, "bucket"));
    const covered =
      coveredNames.has(name) || (literalName !== undefined && coveredLiterals.has(literalName));
    if (!covered && !accountWide) {
      const location = locationOf(bucket.header, bucket);
      if (location !== undefined) found.push(location);
    }
  }
  // A public access block that the pull request weakens: a flag set to false on an added line.
  for (const block of [...blocks, ...resources(view, "aws_s3_account_public_access_block")]) {
    for (const flag of PUBLIC_ACCESS_FLAGS) {
      const attribute = attributeOf(block, flag);
      if (literalBool(attribute) === false && introduced(block, attribute)) {
        const location = locationOf(attribute?.lines[0], block);
        if (location !== undefined) found.push(location);
      }
    }
  }
  return found;
}

/** `aws_s3_bucket.<name>.id` or `.bucket`: the resource name. */
const BUCKET_REFERENCE = /\baws_s3_bucket\.([^.\s"]+)\.(?:id|bucket)\b/g;

// --- IAM wildcard actions ------------------------------------------------------------------

const ACTION_KEYS: ReadonlySet<string> = new Set(["Action", "actions"]);
/** `Action =`, `"Action":` or `actions =`, anywhere on a line (inline maps too). */
const ACTION = /(?<![\w"])"?(?:Action|actions)"?\s*(?:=(?!=)|:)\s*/g;
const DENY = /(?<![\w"])"?(?:Effect|effect)"?\s*(?:=(?!=)|:)\s*"deny"/i;

function isWildcard(action: string): boolean {
  return action.includes("*");
}

/** A statement (map or block) over several lines whose Effect is "Deny". */
function denies(attribute: Attribute): boolean {
  const effect = attributeOf(attribute.parent, "Effect") ?? attributeOf(attribute.parent, "effect");
  return literalString(effect)?.toLowerCase() === "deny";
}

function iamWildcards(view: TerraformView): Location[] {
  const found = new Map<string, Location>();
  // Indexed once: the first attribute that holds each line, and the actions each line starts.
  const holder = new Map<DiffLine, Attribute>();
  const actionsAt = new Map<DiffLine, Attribute[]>();
  for (const attribute of view.attributes) {
    for (const line of attribute.lines) if (!holder.has(line)) holder.set(line, attribute);
    const first = attribute.lines[0];
    if (first !== undefined && ACTION_KEYS.has(attribute.key)) {
      actionsAt.set(first, [...(actionsAt.get(first) ?? []), attribute]);
    }
  }
  const hit = (line: DiffLine) => {
    const location = locationOf(line, holder.get(line)?.parent);
    if (location !== undefined) found.set(`${line.file}:${String(line.line)}`, location);
  };
  // Each statement's Effect is looked up once (a block may hold thousands of actions).
  const denying = new Map<Block, boolean>();
  const deniesOnce = (attribute: Attribute): boolean => {
    let deny = denying.get(attribute.parent);
    if (deny === undefined) {
      deny = denies(attribute);
      denying.set(attribute.parent, deny);
    }
    return deny;
  };
  const statementDenies = (line: DiffLine): boolean => (actionsAt.get(line) ?? []).some(deniesOnce);
  // An action list still open from an earlier line ("Action = [" ... "]").
  let list: { deny: boolean } | undefined;
  let previous: DiffLine | undefined;
  for (const line of view.lines) {
    if (previous?.file !== line.file || previous.line + 1 !== line.line) list = undefined;
    previous = line;
    let code = codeOf(line.text);
    if (list !== undefined) {
      const end = code.indexOf("]");
      const items = end === -1 ? code : code.slice(0, end);
      if (line.added && !list.deny && stringsIn(items).some(isWildcard)) hit(line);
      if (end === -1) continue;
      list = undefined;
      code = code.slice(end + 1);
    }
    for (const match of code.matchAll(ACTION)) {
      const at = match.index;
      // The statement this action is in: an inline map's braces, else the whole line.
      const from = code.lastIndexOf("{", at);
      const to = code.indexOf("}", at);
      const statement = code.slice(from === -1 ? 0 : from, to === -1 ? undefined : to);
      const deny = DENY.test(statement) || statementDenies(line);
      const value = code.slice(at + match[0].length);
      let actions: string[];
      if (value.startsWith("[")) {
        const end = value.indexOf("]");
        if (end === -1) list = { deny };
        actions = stringsIn(end === -1 ? value : value.slice(0, end));
      } else {
        actions = stringsIn(/^"(?:[^"\\]|\\.)*"/.exec(value)?.[0] ?? "");
      }
      if (line.added && !deny && actions.some(isWildcard)) hit(line);
    }
  }
  return [...found.values()];
}

// --- Administrative ports open to the world ------------------------------------------------

interface IngressRule {
  block: Block;
  protocol: Attribute | undefined;
  from: Attribute | undefined;
  to: Attribute | undefined;
  ipv4: Attribute | undefined;
  ipv6: Attribute | undefined;
  /** A `dynamic "ingress"` block's iterator and its literal for_each values, when literal. */
  iteration?: { name: string; values: string[] | undefined };
  /** The security group it belongs to: a group's address, or its `security_group_id`. */
  group?: Attribute | Block | undefined;
}

/**
 * The rule a block states: an `aws_security_group_rule`, a group's `ingress` block, or one
 * element of `ingress = [{...}]` (the same attribute names in each).
 */
function ingressOf(block: Block): IngressRule {
  return {
    block,
    protocol: attributeOf(block, "protocol"),
    from: attributeOf(block, "from_port"),
    to: attributeOf(block, "to_port"),
    ipv4: attributeOf(block, "cidr_blocks"),
    ipv6: attributeOf(block, "ipv6_cidr_blocks"),
  };
}

/** A security group's ingress rules in each of the forms Terraform takes. */
function groupIngressRules(group: Block): IngressRule[] {
  const rules: IngressRule[] = [];
  for (const block of group.blocks) {
    if (block.kind === "block" && block.name === "ingress") rules.push(ingressOf(block));
    // dynamic "ingress" { for_each = [...]  iterator = name  content { ... } }
    if (block.kind === "block" && block.name === "dynamic" && block.labels[0] === "ingress") {
      const iterator = attributeOf(block, "iterator")?.value.trim();
      const forEach = attributeOf(block, "for_each");
      const literal = forEach === undefined ? undefined : literalOf(forEach);
      const values =
        literal?.kind === "list"
          ? literal.value
          : forEach !== undefined && /^\[[\s\d,]*\]$/.test(forEach.value.trim())
            ? (forEach.value.match(/\d+/g) ?? [])
            : undefined;
      for (const content of block.blocks) {
        if (content.kind !== "block" || content.name !== "content") continue;
        rules.push({
          ...ingressOf(content),
          iteration: {
            name:
              iterator !== undefined && /^[A-Za-z_][\w-]*$/.test(iterator) ? iterator : "ingress",
            values,
          },
        });
      }
    }
    // ingress = [{ ... }, { ... }]: each object of the list (or the list itself, "[{" on a line)
    if (block.kind === "value" && block.attribute?.key === "ingress") {
      if (block.attributes.length > 0) rules.push(ingressOf(block));
      for (const element of block.blocks) {
        if (element.kind === "value") rules.push(ingressOf(element));
      }
    }
  }
  return rules;
}

function ingressRules(view: TerraformView): IngressRule[] {
  const rules: IngressRule[] = [];
  for (const block of resources(view, "aws_security_group_rule")) {
    if (literalString(attributeOf(block, "type")) !== "ingress") continue;
    rules.push({ ...ingressOf(block), group: attributeOf(block, "security_group_id") });
  }
  for (const group of resources(view, "aws_security_group", "aws_default_security_group")) {
    for (const rule of groupIngressRules(group)) rules.push({ ...rule, group });
  }
  for (const block of resources(view, "aws_vpc_security_group_ingress_rule")) {
    rules.push({
      block,
      protocol: attributeOf(block, "ip_protocol"),
      from: attributeOf(block, "from_port"),
      to: attributeOf(block, "to_port"),
      ipv4: attributeOf(block, "cidr_ipv4"),
      ipv6: attributeOf(block, "cidr_ipv6"),
      group: attributeOf(block, "security_group_id"),
    });
  }
  return rules;
}

// --- Variables and locals the pull request defines -----------------------------------------

/**
 * `var.NAME` → the values the variable may take in the pull request, `local.NAME` → its
 * `locals` entry. A variable may take several: Terraform's order (the default, then
 * terraform.tfvars, then *.auto.tfvars by file name, the last one winning) is applied in each
 * directory, each directory being a configuration of its own, and a variable file that only
 * `-var-file` loads (`env/prod.tfvars`) overrides them all when it is given. None is chosen:
 * a finding in any of them is a finding.
 */
type Symbols = ReadonlyMap<string, readonly Attribute[]>;

function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

function baseNameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Terraform's load order of a variable file it loads by itself; undefined: -var-file only. */
function autoLoadOrder(path: string): string | undefined {
  const name = baseNameOf(path);
  if (name === "terraform.tfvars") return "0";
  return name.endsWith(".auto.tfvars") ? `1${name}` : undefined;
}

/** Per directory, the assignment Terraform loads last for each variable. */
function autoLoaded(files: readonly VariableFile[]): Map<string, Map<string, Attribute>> {
  const ordered = files
    .map((file) => ({ file, order: autoLoadOrder(file.path) }))
    .filter((entry) => entry.order !== undefined)
    .sort((a, b) => ((a.order ?? "") < (b.order ?? "") ? -1 : a.order === b.order ? 0 : 1));
  const byDirectory = new Map<string, Map<string, Attribute>>();
  for (const { file } of ordered) {
    const directory = directoryOf(file.path);
    const values = byDirectory.get(directory) ?? new Map<string, Attribute>();
    for (const entry of file.root.attributes) values.set(entry.key, entry);
    byDirectory.set(directory, values);
  }
  return byDirectory;
}

function symbolsOf(view: TerraformView, files: readonly VariableFile[]): Symbols {
  const symbols = new Map<string, Attribute[]>();
  const add = (name: string, value: Attribute) => {
    const candidates = symbols.get(name);
    if (candidates === undefined) symbols.set(name, [value]);
    else candidates.push(value);
  };
  const byDirectory = autoLoaded(files);
  for (const block of view.blocks) {
    if (block.kind !== "block" || block.parent !== undefined) continue;
    const name = block.labels[0];
    if (block.name === "variable" && name !== undefined) {
      const value = attributeOf(block, "default");
      // The default, unless a file Terraform loads in the declaring directory sets the variable.
      const directory = directoryOf(block.lines[0]?.file ?? "");
      if (value !== undefined && byDirectory.get(directory)?.has(name) !== true) {
        add(`var.${name}`, value);
      }
    }
    if (block.name === "locals") {
      for (const entry of block.attributes) add(`local.${entry.key}`, entry);
    }
  }
  for (const values of byDirectory.values()) {
    for (const [name, value] of values) add(`var.${name}`, value);
  }
  for (const file of files) {
    if (autoLoadOrder(file.path) !== undefined) continue;
    for (const entry of file.root.attributes) add(`var.${entry.key}`, entry);
  }
  return symbols;
}

const REFERENCE = /^(?:var|local)\.[A-Za-z_][\w-]*$/;
const MAX_INDIRECTION = 4;
/**
 * The most source values one analysis copies from one definition into another. A definition is
 * resolved once and shared, so a local of 20,000 ranges read by 2,000 rules costs 20,000; only
 * a definition mixed into lists (`[local.big, "10.0.0.1/32"]`) copies, and past this budget it
 * gives no more values (its resolution is marked incomplete) rather than hold the event loop.
 */
const MAX_COPIED_VALUES = 200_000;

/**
 * What an attribute's value resolves to, with references to the pull request's variables and
 * locals followed: the literal strings it gives (a list's items, one string, a number as text),
 * whether a line of it or of a definition it went through is added (a finding needs one), and
 * whether it is complete (false: a reference the pull request does not define, a variable it
 * gives no value, or a definition past the copy budget, gave values the review cannot know).
 */
interface Resolution {
  values: readonly string[];
  added: boolean;
  complete: boolean;
}

type Resolver = (attribute: Attribute | undefined) => Resolution;

const NOTHING: Resolution = { values: [], added: false, complete: true };
/** A variable or local the pull request gives no value: anything, chosen outside it. */
const UNKNOWN: Resolution = { values: [], added: false, complete: false };

/** The items of a list value as written, or the value itself. */
function itemsOf(attribute: Attribute): string[] {
  const text = attribute.value.trim().replace(/,\s*$/, "").trim();
  if (!(text.startsWith("[") && text.endsWith("]"))) return [text];
  return text
    .slice(1, -1)
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** The literal an attribute's value is, as a resolution; undefined for an expression. */
function literalResolution(attribute: Attribute): Resolution | undefined {
  const literal = literalOf(attribute);
  const added = addedLine(attribute) !== undefined;
  if (literal.kind === "list") return { values: literal.value, added, complete: true };
  if (literal.kind === "expression") return undefined;
  return { values: [String(literal.value)], added, complete: true };
}

/**
 * Resolves attributes against the pull request's definitions, each definition once (memoised:
 * the cost is the definitions' size, not the number of rules that read them).
 */
function resolverOf(symbols: Symbols): Resolver {
  // By depth: a definition read deeper has fewer levels left to follow (the limit stops cycles).
  const memo = Array.from({ length: MAX_INDIRECTION + 1 }, () => new Map<Attribute, Resolution>());
  const references = Array.from(
    { length: MAX_INDIRECTION + 1 },
    () => new Map<string, Resolution>(),
  );
  let copied = 0;
  /** Several resolutions as one, their values copied within the budget. */
  const union = (parts: readonly Resolution[], added: boolean): Resolution => {
    const values: string[] = [];
    let complete = true;
    for (const part of parts) {
      added ||= part.added;
      complete &&= part.complete;
      if (copied + part.values.length > MAX_COPIED_VALUES) {
        complete = false;
        continue;
      }
      copied += part.values.length;
      for (const value of part.values) values.push(value);
    }
    return { values, added, complete };
  };
  /** A reference's candidates (a variable's values in each configuration), once per depth. */
  const reference = (name: string, depth: number): Resolution => {
    if (depth > MAX_INDIRECTION) return NOTHING;
    const known = references[depth]?.get(name);
    if (known !== undefined) return known;
    const candidates = (symbols.get(name) ?? []).map((value) => resolve(value, depth));
    const result =
      candidates.length === 0
        ? UNKNOWN
        : candidates.length === 1
          ? (candidates[0] ?? NOTHING)
          : union(candidates, false);
    references[depth]?.set(name, result);
    return result;
  };
  const resolveItems = (attribute: Attribute, depth: number): Resolution => {
    const items = itemsOf(attribute);
    const own = addedLine(attribute) !== undefined;
    // One reference: its resolution, shared rather than copied.
    const only = items.length === 1 ? items[0] : undefined;
    if (only !== undefined && REFERENCE.test(only)) {
      const inner = reference(only, depth + 1);
      return own && !inner.added ? { ...inner, added: true } : inner;
    }
    const parts: Resolution[] = [];
    const literals: string[] = [];
    for (const item of items) {
      const quoted = /^"((?:[^"\\$]|\\.)*)"$/.exec(item);
      if (quoted !== null) literals.push((quoted[1] ?? "").replace(/\\(.)/g, "$1"));
      else if (REFERENCE.test(item)) parts.push(reference(item, depth + 1));
    }
    return union([{ values: literals, added: own, complete: true }, ...parts], own);
  };
  const resolve = (attribute: Attribute | undefined, depth: number): Resolution => {
    if (attribute === undefined || depth > MAX_INDIRECTION) return NOTHING;
    const known = memo[depth]?.get(attribute);
    if (known !== undefined) return known;
    const result = literalResolution(attribute) ?? resolveItems(attribute, depth);
    memo[depth]?.set(attribute, result);
    return result;
  };
  return (attribute) => resolve(attribute, 0);
}

/** One string the attribute resolves to, when it resolves to exactly one. */
function resolvedString(attribute: Attribute | undefined, resolve: Resolver): string | undefined {
  const { values } = resolve(attribute);
  return values.length === 1 ? values[0] : undefined;
}

function resolvedNumber(attribute: Attribute | undefined, resolve: Resolver): number | undefined {
  const text = resolvedString(attribute, resolve);
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;
}

const ALL_PROTOCOLS: ReadonlySet<string> = new Set(["-1", "all"]);
/** The protocols with ports, by the name rules are joined under. */
const PORT_PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ["tcp", "tcp"],
  ["6", "tcp"],
  ["udp", "udp"],
  ["17", "udp"],
]);

/** The administrative ports a rule opens, as "protocol/port"; undefined when not literal. */
function openedAdminPorts(rule: IngressRule, resolve: Resolver): string[] | undefined {
  const protocol = resolvedString(rule.protocol, resolve)?.toLowerCase();
  if (protocol === undefined) return undefined;
  const every = [...ADMIN_PORTS.keys()];
  if (ALL_PROTOCOLS.has(protocol)) return ["tcp", "udp"].flatMap((p) => portKeys(p, every));
  const name = PORT_PROTOCOLS.get(protocol);
  if (name === undefined) return [];
  const iterated = iteratedPorts(rule);
  if (iterated !== undefined) return portKeys(name, iterated);
  const from = resolvedNumber(rule.from, resolve);
  const to = resolvedNumber(rule.to, resolve) ?? from;
  if (from === undefined || to === undefined) return undefined;
  if (from === -1 && to === -1) return portKeys(name, every);
  return portKeys(
    name,
    every.filter((port) => port >= from && port <= to),
  );
}

function portKeys(protocol: string, ports: readonly number[]): string[] {
  return ports.filter((port) => ADMIN_PORTS.has(port)).map((port) => `${protocol}/${String(port)}`);
}

/** The ports of a dynamic block's rule whose from_port and to_port are `<iterator>.value`. */
function iteratedPorts(rule: IngressRule): number[] | undefined {
  const iteration = rule.iteration;
  if (iteration?.values === undefined) return undefined;
  const current = `${iteration.name}.value`;
  const isCurrent = (attribute: Attribute | undefined) =>
    attribute?.value.trim().replace(/,$/, "").trim() === current;
  if (!isCurrent(rule.from) || !(rule.to === undefined || isCurrent(rule.to))) return undefined;
  const ports = iteration.values.map(Number);
  return ports.every(Number.isInteger) ? ports : undefined;
}

/** A CIDR as [first, last] addresses of its family (4 or 6); undefined when it is not one. */
function cidrRange(cidr: string, family: 4 | 6): [bigint, bigint] | undefined {
  const match = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (match === null) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefix = Number(match[2]);
  if (prefix > bits) return undefined;
  const address = family === 4 ? ipv4(match[1] ?? "") : ipv6(match[1] ?? "");
  if (address === undefined) return undefined;
  const size = 1n << BigInt(bits - prefix);
  const first = (address / size) * size;
  return [first, first + size - 1n];
}

function ipv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) < 256)) {
    return undefined;
  }
  return parts.reduce((value, part) => (value << 8n) | BigInt(part), 0n);
}

function ipv6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) =>
    half === undefined || half === "" ? [] : half.split(":");
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [
    ...head,
    ...Array.from({ length: halves.length === 1 ? 0 : missing }, () => "0"),
    ...tail,
  ];
  if (!all.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return undefined;
  return all.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

/** Whether the CIDRs together cover their family's whole address space ("0.0.0.0/0", "::/0"). */
function coversWorld(cidrs: readonly string[], family: 4 | 6): boolean {
  const ranges = cidrs
    .map((cidr) => cidrRange(cidr, family))
    .filter((range) => range !== undefined)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const last = (1n << BigInt(family === 4 ? 32 : 128)) - 1n;
  let next = 0n; // the first address not yet covered
  for (const [first, end] of ranges) {
    if (first > next) return false;
    if (end >= next) next = end + 1n;
    if (next > last) return true;
  }
  return false;
}

/** coversWorld, once per list of values: a shared definition's list is checked once. */
const coverage = new WeakMap<readonly string[], { 4?: boolean; 6?: boolean }>();

function coversWorldOnce(cidrs: readonly string[], family: 4 | 6): boolean {
  const known = coverage.get(cidrs) ?? {};
  const answer = known[family] ?? coversWorld(cidrs, family);
  coverage.set(cidrs, { ...known, [family]: answer });
  return answer;
}

/** The ingress findings, both families and the unverified ones, from one pass over the rules. */
interface IngressFindings {
  ipv4: Location[];
  ipv6: Location[];
  unknown: Location[];
}

/** Whether the rule's ports are unknown because a variable or local they read is. */
function portsUnknown(rule: IngressRule, resolve: Resolver): boolean {
  return [rule.protocol, rule.from, rule.to].some((attribute) => !resolve(attribute).complete);
}

/** `aws_security_group.NAME.id`: the group the pull request names. */
const GROUP_REFERENCE = /^(aws_(?:default_)?security_group\.[A-Za-z_][\w-]*)\.id$/;

/** The key the rules of one security group share; undefined when the group is not known. */
function groupKey(rule: IngressRule, resolve: Resolver): string | undefined {
  const group = rule.group;
  if (group === undefined) return undefined;
  if (!("key" in group)) return addressOf(group);
  const text = group.value.trim().replace(/,$/, "").trim();
  const reference = GROUP_REFERENCE.exec(text)?.[1];
  if (reference !== undefined) return reference;
  const id = resolvedString(group, resolve);
  return id === undefined ? `expression ${text}` : `id ${id}`;
}

/**
 * The most source values the joining of rules copies. Each rule is in at most 26 joins (13
 * ports, 2 protocols); a join that would copy past this budget is reported unverified, not
 * passed.
 */
const MAX_JOINED_VALUES = 400_000;

/** A rule's sources of one family, waiting to be joined with its group's other rules. */
interface Joined {
  rule: IngressRule;
  sources: Resolution;
  changed: boolean;
  location: Location | undefined;
}

function ingressFindings(view: TerraformView, files: readonly VariableFile[]): IngressFindings {
  const found: IngressFindings = { ipv4: [], ipv6: [], unknown: [] };
  const resolve = resolverOf(symbolsOf(view, files));
  /** By group, family and "protocol/port": the rules that open it to less than the world. */
  const joins = new Map<string, Joined[]>();
  const unverified = new Map<IngressRule, Location | undefined>();
  for (const rule of ingressRules(view)) {
    // A finding needs an added line: in the block, its ports, or the family's sources.
    const portsChanged =
      isNew(rule.block) ||
      [rule.protocol, rule.from, rule.to].some((attribute) => resolve(attribute).added);
    const opened = openedAdminPorts(rule, resolve);
    const admin = opened === undefined ? undefined : opened.length > 0;
    const portUnknown = admin === undefined && portsUnknown(rule, resolve);
    const group = groupKey(rule, resolve);
    for (const family of [4, 6] as const) {
      const cidrs = family === 4 ? rule.ipv4 : rule.ipv6;
      const sources = resolve(cidrs);
      const changed = portsChanged || sources.added;
      const world = coversWorldOnce(sources.values, family);
      const location = locationOf(addedLine(cidrs) ?? cidrs?.lines[0], rule.block);
      if (world && admin === true) {
        if (changed && location !== undefined) found[family === 4 ? "ipv4" : "ipv6"].push(location);
        continue;
      }
      const unknown =
        (world && portUnknown) || (!sources.complete && (admin === true || portUnknown));
      if (changed && unknown && !unverified.has(rule)) unverified.set(rule, location);
      if (group === undefined || sources.values.length === 0) continue;
      for (const port of opened ?? []) {
        const key = `${group}\n${String(family)}\n${port}`;
        const entry: Joined = { rule, sources, changed, location };
        const joined = joins.get(key);
        if (joined === undefined) joins.set(key, [entry]);
        else joined.push(entry);
      }
    }
  }
  joinSources(joins, found, unverified);
  for (const location of unverified.values())
    if (location !== undefined) found.unknown.push(location);
  return found;
}

/**
 * The rules of one group that open the same port, their sources taken together: when they cover
 * the world, each rule the pull request changed among them is a finding (an unchanged one only
 * helped). Each list of values is taken once per join, however many rules share it, and each
 * set of lists once, however many ports it is joined on.
 */
function joinSources(
  joins: ReadonlyMap<string, readonly Joined[]>,
  found: IngressFindings,
  unverified: Map<IngressRule, Location | undefined>,
): void {
  const reported = new Set<string>();
  // The same rules often open every port (all protocols, a wide range): their joins are one.
  const ids = new Map<readonly string[], number>();
  const idOf = (list: readonly string[]): number => {
    const id = ids.get(list) ?? ids.size;
    ids.set(list, id);
    return id;
  };
  const answers = new Map<string, boolean>();
  let copied = 0;
  for (const [key, joined] of joins) {
    if (joined.length < 2 || !joined.some((entry) => entry.changed)) continue;
    const lists = [...new Set(joined.map((entry) => entry.sources.values))];
    if (lists.length < 2) continue; // one list, already checked alone
    const family = key.split("\n")[1] === "4" ? 4 : 6;
    const set = `${String(family)} ${lists
      .map(idOf)
      .sort((a, b) => a - b)
      .join(",")}`;
    let covers = answers.get(set);
    if (covers === undefined) {
      const size = lists.reduce((total, list) => total + list.length, 0);
      if (copied + size > MAX_JOINED_VALUES) {
        for (const entry of joined) {
          if (entry.changed && !unverified.has(entry.rule)) {
            unverified.set(entry.rule, entry.location);
          }
        }
        continue;
      }
      copied += size;
      covers = coversWorld(lists.flat(), family);
      answers.set(set, covers);
    }
    if (!covers) continue;
    for (const entry of joined) {
      const id = `${String(family)} ${entry.location?.file ?? ""}:${String(entry.location?.line)}`;
      if (!entry.changed || entry.location === undefined || reported.has(id)) continue;
      reported.add(id);
      found[family === 4 ? "ipv4" : "ipv6"].push(entry.location);
    }
  }
}

// --- CloudWatch log retention --------------------------------------------------------------

function logRetention(view: TerraformView): Location[] {
  const found: Location[] = [];
  for (const group of resources(view, "aws_cloudwatch_log_group")) {
    const retention = attributeOf(group, "retention_in_days");
    // 0 is "never expire": no retention either.
    const missing = isNew(group) && retention === undefined;
    const never = literalNumber(retention) === 0 && introduced(group, retention);
    if (missing || never) {
      const location = locationOf(retention?.lines[0] ?? group.header, group);
      if (location !== undefined) found.push(location);
    }
  }
  return found;
}

// --- RDS publicly accessible ---------------------------------------------------------------

function rdsPublic(view: TerraformView): Location[] {
  const found: Location[] = [];
  for (const db of resources(view, "aws_db_instance", "aws_rds_cluster_instance")) {
    const attribute = attributeOf(db, "publicly_accessible");
    if (literalBool(attribute) === true && introduced(db, attribute)) {
      const location = locationOf(attribute?.lines[0], db);
      if (location !== undefined) found.push(location);
    }
  }
  return found;
}

// --- EBS encryption ------------------------------------------------------------------------

function ebsUnencrypted(view: TerraformView): Location[] {
  const found: Location[] = [];
  const byDefault = resources(view, "aws_ebs_encryption_by_default").some(
    (block) => literalBool(attributeOf(block, "enabled")) !== false,
  );
  for (const volume of resources(view, "aws_ebs_volume")) {
    const attribute = attributeOf(volume, "encrypted");
    const value = literalBool(attribute);
    const missing = isNew(volume) && attribute === undefined && !byDefault;
    const disabled = value === false && introduced(volume, attribute);
    if (missing || disabled) {
      const location = locationOf(attribute?.lines[0] ?? volume.header, volume);
      if (location !== undefined) found.push(location);
    }
  }
  // Instance disks explicitly left unencrypted.
  for (const instance of resources(view, "aws_instance", "aws_launch_template")) {
    for (const disk of instance.blocks) {
      if (disk.kind !== "block") continue;
      if (!["root_block_device", "ebs_block_device", "ebs"].includes(disk.name)) continue;
      const attribute = attributeOf(disk, "encrypted");
      if (literalBool(attribute) === false && introduced(disk, attribute)) {
        const location = locationOf(attribute?.lines[0], disk);
        if (location !== undefined) found.push(location);
      }
    }
  }
  return found;
}

// --- Terraform the analysis cannot read -----------------------------------------------------

const TERRAFORM_FILE = /\.(?:tf|tf\.json|hcl|tfvars|tfvars\.json)$/;
/** The worker's PATCH_TRUNCATED_MARKER: the file's diff was cut at the worker's byte budget. */
const TRUNCATED = /^\\ patch truncated\b/m;

/**
 * Terraform files whose changes the rules never saw: a patch the worker cut or GitHub omitted
 * (null for a file that is not removed and adds lines), and Terraform's JSON syntax, which the
 * line scanner does not read. Reported, never taken for "no findings".
 */
function unreadableTerraform(pull: ChangeFiles): Location[] {
  const found: Location[] = [];
  for (const file of pull.files) {
    if (!TERRAFORM_FILE.test(file.path)) continue;
    const omitted =
      file.patch === null &&
      file.status !== "removed" &&
      !(typeof file.additions === "number" && file.additions === 0);
    const cut = file.patch !== null && TRUNCATED.test(file.patch);
    const json =
      /\.(?:tf|tfvars)\.json$/.test(file.path) && file.patch !== null && /^\+/m.test(file.patch);
    if (omitted || cut || json) found.push({ file: file.path, line: 0 });
  }
  return found;
}

// --- The ticket ----------------------------------------------------------------------------

/** Whether a ticket's rollback plan says something. */
export function hasRollbackPlan(ticket: ChangeTicket): boolean {
  const plan = ticket.rollback_plan?.trim() ?? "";
  return plan !== "" && !PLACEHOLDER.test(plan);
}

// --- All rules -----------------------------------------------------------------------------

/** The rules that apply to a change, in the rule table's order, each with where it was seen. */
export function analyzeChange(ticket: ChangeTicket, pull: ChangeFiles): RuleHit[] {
  const view = scanFiles(pull.files);
  const variableFiles = scanVariableFiles(pull.files);
  let ingress: IngressFindings | undefined;
  const ingressOnce = () => (ingress ??= ingressFindings(view, variableFiles));
  const locations: Record<RuleId, () => Location[]> = {
    s3_public_access_block_missing: () => s3PublicAccess(view),
    iam_wildcard_action: () => iamWildcards(view),
    admin_port_open_ipv4: () => ingressOnce().ipv4,
    admin_port_open_ipv6: () => ingressOnce().ipv6,
    admin_port_source_unknown: () => ingressOnce().unknown,
    log_retention_missing: () => logRetention(view),
    rds_publicly_accessible: () => rdsPublic(view),
    ebs_unencrypted: () => ebsUnencrypted(view),
    rollback_plan_missing: () => [],
    terraform_unreadable: () => unreadableTerraform(pull),
  };
  const hits: RuleHit[] = [];
  for (const rule of RULES) {
    if (rule.id === "rollback_plan_missing") {
      if (!hasRollbackPlan(ticket)) hits.push({ rule: rule.id, locations: [] });
      continue;
    }
    const found = locations[rule.id]();
    if (found.length > 0) hits.push({ rule: rule.id, locations: found });
  }
  return hits;
}
