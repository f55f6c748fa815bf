// What a secret looks like: one copy, shared by the gateway's audit mask (gateway/src/audit/
// mask.ts) and the worker's output guard (agent/src/guard/output-guard.ts).
//
// Two checks. A key that names a secret (password, api_key, Authorization, clientSecret...):
// whatever is under it is a secret. Inside any string, substrings that look like credentials
// (AWS access key ids and secret keys, PEM private keys, JWTs, GitHub and Slack tokens, bearer
// tokens, password assignments, passwords in URLs) become "[REDACTED:<kind>]". Nothing is
// masked for merely looking random: ticket keys, digests, resource ids and CIDRs stay readable.
//
// Every pattern is linear: a literal or a bounded class anchors each match, no nested
// quantifiers, so a long adversarial string costs time in proportion to its length.

// ---------------------------------------------------------------------------------------------
// Secret keys

/** Words that make a key secret on their own. */
const SECRET_WORDS = new Set([
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "authorization",
  "credential",
  "credentials",
  "cookie",
  "cookies",
]);

/** Runs of words (joined without separators) that make a key secret. */
const SECRET_COMPOUNDS = [
  "apikey",
  "privatekey",
  "accesskey",
  "secretkey",
  "clientsecret",
  "sessiontoken",
  "setcookie",
  "signingkey",
  "encryptionkey",
];

/**
 * A trailing word that makes the key name a *property* of the secret, not the secret itself:
 * password_policy, token_type, secret_arn, token_expires_at.
 */
const BENIGN_LAST_WORDS = new Set([
  "id",
  "ids",
  "name",
  "names",
  "arn",
  "type",
  "types",
  "policy",
  "count",
  "length",
  "ttl",
  "expiry",
  "expires",
  "expiration",
  "at",
  "version",
  "rotation",
  "required",
  "present",
]);

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

/** Whether values under this key are secrets (case-insensitive; -, _, camelCase all count). */
const secretKeyMemo = new Map<string, boolean>();
const SECRET_KEY_MEMO_MAX = 10_000;

export function isSecretKey(key: string): boolean {
  // Records repeat the same few keys: classify each once (bounded).
  const known = secretKeyMemo.get(key);
  if (known !== undefined) return known;
  const verdict = classifyKey(key);
  if (secretKeyMemo.size < SECRET_KEY_MEMO_MAX) secretKeyMemo.set(key, verdict);
  return verdict;
}

function classifyKey(key: string): boolean {
  const words = keyWords(key);
  const last = words.at(-1);
  if (last === undefined || (words.length > 1 && BENIGN_LAST_WORDS.has(last))) return false;
  if (words.some((word) => SECRET_WORDS.has(word))) return true;
  const compact = words.join("");
  return SECRET_COMPOUNDS.some((compound) => compact.includes(compound));
}

// ---------------------------------------------------------------------------------------------
// Secret substrings

/** The kinds of secret substrings, in the order they are looked for. */
export const SECRET_KINDS = [
  "private_key",
  "jwt",
  "aws_access_key_id",
  "aws_secret_access_key",
  "github_token",
  "slack_token",
  "url_password",
  "bearer",
  "password",
  "secret",
] as const;

export type SecretKind = (typeof SECRET_KINDS)[number];

/** What a masked secret substring becomes. */
export function secretMarker(kind: string): string {
  return `[REDACTED:${kind}]`;
}

interface Detector {
  kind: SecretKind;
  pattern: RegExp;
  /** Replacement for one match; default: the whole match becomes the marker. */
  replace?: (marker: string, ...groups: string[]) => string;
  /** A `name = value` assignment: the value (group 2) may be a reference, not a secret. */
  assignment?: true;
}

const NOT_ALREADY_MASKED = String.raw`(?!\[REDACTED)`;

/**
 * Where the name in a `name = value` assignment may start: not after a letter, digit, ":" or
 * "/" (so an ARN's ":secret:" or a path's "/token" is no assignment). Written to try only the
 * first position of each run of name characters: the name may start right after a "_", "."
 * or "-" inside the run, which the second branch accepts by consuming up to the first of them.
 * Same matches as starting anywhere, without rescanning the run from each of its characters.
 */
const NAME_START = String.raw`(?<![A-Za-z0-9_.-])(?:(?<![:/])|[A-Za-z0-9]*[_.-])`;

const DETECTORS: readonly Detector[] = [
  {
    kind: "private_key",
    // A whole PEM block, or everything after a BEGIN whose END was cut off.
    pattern:
      /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)/g,
  },
  {
    kind: "jwt",
    // Only the first "eyJ" of a run is tried (the lookbehind): a later one in the same run of
    // [A-Za-z0-9_-] fails whenever the first did, and trying each would be quadratic.
    pattern:
      /\b(?=eyJ)(?<!\beyJ[A-Za-z0-9_-]*?)eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  },
  {
    kind: "aws_access_key_id",
    pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  },
  {
    kind: "aws_secret_access_key",
    pattern: new RegExp(
      String.raw`((?:aws[_-]?)?secret[_-]?access[_-]?key["']?\s*[:=]\s*["']?)${NOT_ALREADY_MASKED}[A-Za-z0-9/+=]{16,}`,
      "gi",
    ),
    replace: (marker, prefix = "") => `${prefix}${marker}`,
  },
  {
    kind: "github_token",
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b/g,
  },
  {
    kind: "slack_token",
    pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  },
  {
    kind: "url_password",
    pattern: new RegExp(
      // scheme://user:password@ — anchored on the ":" of "://", the scheme checked behind it, so
      // a long run of scheme characters is not rescanned from each of its letters.
      String.raw`(:(?<=\b[a-z][a-z0-9+.-]*:)//[^\s:/@[\]]+:)${NOT_ALREADY_MASKED}[^\s@/]+(?=@)`,
      "gi",
    ),
    replace: (marker, prefix = "") => `${prefix}${marker}`,
  },
  {
    kind: "bearer",
    pattern: new RegExp(
      String.raw`(\b(?:Bearer|Basic)\s+)${NOT_ALREADY_MASKED}[A-Za-z0-9._~+/-]{8,}=*`,
      "g",
    ),
    replace: (marker, prefix = "") => `${prefix}${marker}`,
  },
  {
    kind: "password",
    // password=..., "password": "...", DB_PASSWORD: ..., passwd='...'. Not "password policy".
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:password|passwd|passphrase)["']?\s*[:=]\s*)${NOT_ALREADY_MASKED}("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)`,
      "gi",
    ),
    replace: quotedValue,
    assignment: true,
  },
  {
    kind: "secret",
    // secret=..., client_secret: "...", api_key=..., access_token=... (not an ARN's ":secret:")
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:secret|api[_-]?key|token)["']?\s*[:=]\s*)${NOT_ALREADY_MASKED}("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)`,
      "gi",
    ),
    replace: quotedValue,
    assignment: true,
  },
];

/** Each kind and its pattern (global; for tests and tools that only need to find, not mask). */
export const SECRET_PATTERNS: ReadonlyMap<SecretKind, RegExp> = new Map(
  DETECTORS.map((detector) => [detector.kind, detector.pattern]),
);

/** Keep the assignment and the quotes, mask what is between them. */
function quotedValue(marker: string, prefix = "", value = ""): string {
  const quote = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : "";
  if (quote !== "" && value.length < 3) return `${prefix}${value}`; // an empty value hides nothing
  return `${prefix}${quote}${marker}${quote}`;
}

// ---------------------------------------------------------------------------------------------
// References: where a secret comes from, not the secret

/** Types and keywords: `token: string`, `password: Optional[str]`, `token = await ...`. */
const TYPE_OR_KEYWORD =
  /^(?:string|number|boolean|bigint|symbol|object|any|unknown|never|void|undefined|null|str|int|bytes|bool|float|none|nil|optional|secretstr|sensitive|true|false|await|new|typeof|function|lambda|async|yield)(?![A-Za-z0-9_$])/i;
/** Roots of configuration and code references: var.db_password, process.env.X, secrets.TOKEN. */
const REFERENCE_ROOT =
  /^(?:var|local|locals|module|data|each|self|count|path|terraform|process|os|env|environ|secrets|vars|inputs|params|props|this|config|settings|context|ctx|request|req|options|opts|args|vault)[.[]/i;
/** A dotted path of two dots or more: aws_secretsmanager_secret_version.db.secret_string. */
const DOTTED_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*){2,}$/;
/** A call: getToken(), os.getenv(, readTokenFile(tokenFile. Not Welcome(2024). */
const CALL = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\((?:[A-Za-z_$][\w$.]*)?\)?$/;
/** Interpolations and variables: ${var.x}, ${{ secrets.X }}, {{ vault_pw }}, $(cmd), $DB_PASSWORD. */
const INTERPOLATION = /^(?:\$\{|\{\{|\$\(|\$[A-Z_][A-Z0-9_]*$|<%)/;

/**
 * Whether an assigned value names where a secret comes from (a variable, a reference, a call,
 * a type) or the "assignment" is a comparison (`token === undefined`, value "=="), rather than
 * being the secret itself. Literal-looking values never are: "hunter2", "$ecret1".
 */
export function isSecretReference(value: string): boolean {
  const quote = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : "";
  if (quote !== "") {
    const inner = value.slice(1, value.endsWith(quote) && value.length > 1 ? -1 : undefined);
    return /^(?:\$\{|\{\{)[\s\S]*\}$/.test(inner);
  }
  return (
    /^[=>]/.test(value) ||
    TYPE_OR_KEYWORD.test(value) ||
    REFERENCE_ROOT.test(value) ||
    DOTTED_PATH.test(value) ||
    CALL.test(value) ||
    INTERPOLATION.test(value)
  );
}

export interface RedactOptions {
  /**
   * Leave `name = value` assignments whose value is a reference, not a secret
   * (isSecretReference): code and configuration stay readable (`password = var.db_password`,
   * `token: string`). Default false: every assignment to a secret-named key is masked.
   */
  keepReferences?: boolean | undefined;
}

export interface RedactedText {
  /** The text with every secret substring replaced by "[REDACTED:<kind>]". */
  text: string;
  /** How many substrings were masked. */
  redactions: number;
  /** The kinds masked, each once, in SECRET_KINDS order. */
  kinds: SecretKind[];
}

/** Mask secret-looking substrings of one string. Masking twice changes nothing more. */
/**
 * A literal every detector needs (case-insensitively a superset of each): a text without any of
 * them cannot match, and skips the nine patterns. Most audited strings are ids and enums.
 */
export const SECRET_TRIGGERS =
  /-----BEGIN|eyJ|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|:\/\/|\b(?:Bearer|Basic)\s|pass(?:word|wd|phrase)|secret|api[_-]?key|token/i;

export function redactSecrets(text: string, options: RedactOptions = {}): RedactedText {
  if (!SECRET_TRIGGERS.test(text)) return { text, redactions: 0, kinds: [] };
  let redactions = 0;
  const kinds: SecretKind[] = [];
  let out = text;
  for (const detector of DETECTORS) {
    const marker = secretMarker(detector.kind);
    const { replace } = detector;
    const keep = options.keepReferences === true && detector.assignment === true;
    const before = redactions;
    out = out.replace(detector.pattern, (match: string, ...rest: unknown[]) => {
      // rest: the capture groups, then the offset (a number), the input, maybe named groups.
      const end = rest.findIndex((item) => typeof item === "number");
      const groups = rest.slice(0, end).map((item) => (typeof item === "string" ? item : ""));
      if (keep && isSecretReference(groups[1] ?? "")) return match;
      const replaced = replace === undefined ? marker : replace(marker, ...groups);
      if (replaced !== match) redactions++;
      return replaced;
    });
    if (redactions > before) kinds.push(detector.kind);
  }
  return { text: out, redactions, kinds };
}
