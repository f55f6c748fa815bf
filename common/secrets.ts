// What a secret looks like: one copy, shared by the gateway's audit mask (gateway/src/audit/
// mask.ts) and the worker's output guard (agent/src/guard/output-guard.ts).
//
// Two checks. A key that names a secret (password, api_key, Authorization, clientSecret...):
// whatever is under it is a secret. Inside any string, substrings that look like credentials
// (AWS access key ids and secret keys, PEM and PGP private keys, JWTs, GitHub, Slack, Stripe,
// Google, Azure and Atlassian tokens, bearer tokens and other Authorization schemes, password
// assignments and comparisons, passwords in URLs, connection strings, .netrc entries and command
// flags (curl -u, mysql -p, sshpass -p, redis-cli -a), JSON Web Keys' private members, Azure SAS
// signatures) become "[REDACTED:<kind>]". Nothing is masked for merely looking random: ticket
// keys, digests, resource ids and CIDRs stay readable.
//
// Rule data: provider token formats transcribed from gitleaks (common/secret-rules/
// provider-tokens.ts) and context rules after Nosey Parker and gitleaks (common/secret-rules/
// in-context.ts); attribution and licences in those files.
//
// Failure modes: a detector that throws would lose the text, so none does (pure regular
// expressions and string work); a text the triggers skip cannot match any detector (tested).
//
// Every pattern is linear: a literal or a bounded class anchors each match, no nested
// quantifiers, so a long adversarial string costs time in proportion to its length.

import { CONTEXT_RULES } from "./secret-rules/in-context.ts";
import { PROVIDER_TOKEN_RULES } from "./secret-rules/provider-tokens.ts";

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

/**
 * Words that make a key secret after another word only (DB_PASS, MYSQL_PWD, redisPass): alone,
 * "pass" is a test result and "PWD" the shell's working directory.
 */
const SECRET_LATER_WORDS = new Set(["pass", "pwd"]);

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
 * Endings that make one joined word secret (PGPASSWORD, adminpassword, apitoken, webhooksecret):
 * the names the string detector masks in text (`PGPASSWORD=...`), so the same secret as a member
 * is masked too. Endings only: "tokens", "tokenizer" and "secretary" stay readable.
 */
const SECRET_ENDINGS = ["password", "passwd", "passphrase", "secret", "token", "apikey"];

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
  if (words.some((word) => SECRET_ENDINGS.some((ending) => word.endsWith(ending)))) return true;
  if (words.slice(1).some((word) => SECRET_LATER_WORDS.has(word))) return true;
  const compact = words.join("");
  return SECRET_COMPOUNDS.some((compound) => compact.includes(compound));
}

/** A JSON Web Key's private members (RFC 7518: RSA's and EC's "d" and the rest, oct's "k"). */
const JWK_PRIVATE_MEMBERS = new Set(["d", "p", "q", "dp", "dq", "qi", "k"]);

/** Whether this member of this object is a JSON Web Key's private member (it has a "kty"). */
export function isJwkPrivateMember(key: string, parent: object): boolean {
  return (
    JWK_PRIVATE_MEMBERS.has(key) &&
    Object.hasOwn(parent, "kty") &&
    typeof (parent as Record<string, unknown>)["kty"] === "string"
  );
}

// ---------------------------------------------------------------------------------------------
// Secret substrings

/** The kinds of secret substrings, in the order they are looked for and reported. */
export const SECRET_KINDS = [
  "private_key",
  "jwt",
  "aws_access_key_id",
  "aws_secret_access_key",
  "github_token",
  "slack_token",
  "slack_webhook",
  "stripe_key",
  "gcp_api_key",
  "azure_client_secret",
  "azure_devops_pat",
  "azure_storage_key",
  "atlassian_token",
  "url_password",
  "bearer",
  "http_auth",
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
  /** Global. With `prefixed`, group 1 is kept verbatim and the rest of the match masked. */
  pattern: RegExp;
  prefixed?: boolean;
  /** A `name = value` assignment: the value may be a reference, not a secret. */
  assignment?: boolean;
  /**
   * The name is in another member on the line above (a name/value pair): references are judged
   * as if the pair were on one line.
   */
  pairedName?: boolean;
  /** Whether this value (the masked part of the match) is a secret after all (default: yes). */
  accept?: (value: string) => boolean;
  /** How the masked part is replaced (default: the marker, inside the value's quotes). */
  mask?: (marker: string, prefix: string, value: string) => string;
}

const NOT_ALREADY_MASKED = String.raw`(?!\[REDACTED)`;
/**
 * The quote that may close a name: ", ' or, in JSON held inside a string (Secrets Manager's
 * SecretString, a fixture, a log line), an escaped \".
 */
const NAME_QUOTE = String.raw`(?:\\?["'])?`;
/** An assigned value: escaped-quoted (\"...\"), double- or single-quoted, or bare. */
const ASSIGNED_VALUE = String.raw`(\\"(?:[^"\\]|\\(?!"))*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)`;

/**
 * Where the name in a `name = value` assignment may start: not after a letter, digit, ":" or
 * "/" (so an ARN's ":secret:" or a path's "/token" is no assignment). Written to try only the
 * first position of each run of name characters: the name may start right after a "_", "."
 * or "-" inside the run, which the second branch accepts by consuming up to the first of them.
 * Same matches as starting anywhere, without rescanning the run from each of its characters.
 */
const NAME_START = String.raw`(?<![A-Za-z0-9_.-])(?:(?<![:/])|[A-Za-z0-9]*[_.-])`;

/**
 * An ODBC braced value (`Pwd={a;b}`): it may hold ";" and "}" ("}}" escapes one; drivers also
 * take a lone "}" that the end of the attribute does not follow). It ends at the "}" that a ";",
 * a quote, a blank or the end follows: `{a;b}c}` whole. The three branches start with distinct
 * characters, so the match is found without backtracking between them.
 */
const BRACED_VALUE = String.raw`\{(?:[^}\n]|\}\}|\}(?![;"'\s}]|$)){1,200}\}`;

/**
 * The generic assignment's bare value stops at ";" and "}": one that opens a brace is left to
 * the braced-value detector, which takes it whole.
 */
const notBraced = (value: string): boolean => !value.startsWith("{");

/** A base64-encoded PEM block ("-----BEGIN" encoded): a secret only if it is a private key. */
function isEncodedPrivateKey(match: string): boolean {
  const head = Buffer.from(match.slice(0, 64), "base64").toString("latin1");
  return head.includes("PRIVATE KEY");
}

/** base64("user:password"), as HTTP Basic and registry logins keep it: printable, with a colon. */
function isEncodedUserPassword(value: string): boolean {
  const decoded = Buffer.from(value, "base64").toString("latin1");
  return /^[^\s:]{1,256}:[\x21-\x7e][\x20-\x7e]*$/.test(decoded);
}

/** A JSON Web Key's private member and its base64url value (not yet masked). */
const JWK_PRIVATE_MEMBER =
  /(\\?"(?:d|p|q|dp|dq|qi|k)\\?"[ \t\r\n]*:[ \t\r\n]*\\?")(?!\[REDACTED)[A-Za-z0-9_+/=-]+/g;

/** A YAML block scalar's indicator (`|`, `>-`, `|+2`): the value is on the lines below. */
const BLOCK_INDICATOR = /^[|>][-+]?[1-9]?$/;
/** A heredoc's opening (`<<EOT`, `<<-EOT`, `<<"END"`): the value is on the lines below. */
const HEREDOC_OPENING = /^<<[-~]?(?:(["']?)[A-Za-z_][A-Za-z0-9_]*\1)?$/; // a bare value stops at a quote
/**
 * An assignment's value is a secret unless it only opens a block scalar or a heredoc (masked
 * below it).
 */
const notBlockIndicator = (value: string): boolean =>
  !BLOCK_INDICATOR.test(value) && !HEREDOC_OPENING.test(value);

/**
 * A YAML block scalar under a secret name: `password: |` (or `>-`, ...) and the lines indented
 * below it, in a diff too (each line behind the same "+", "-" or " "). The lines are masked
 * as one; the name line is kept.
 */
function blockScalar(kind: SecretKind, names: string): Detector {
  return {
    kind,
    pattern: new RegExp(
      String.raw`((?:^|\n)([+ -]?)([ \t]*)${NAME_START}[A-Za-z0-9_.-]*(?:${names})["']?[ \t]*:[ \t]*[|>][-+]?[1-9]?[ \t]*)((?:\r?\n\2\3[ \t]+${NOT_ALREADY_MASKED}[^\n]*)+)`,
      "gi",
    ),
    prefixed: true,
    mask: (marker, prefix, value) => {
      const indentation = /^\r?\n([+ -]?[ \t]*)/.exec(value)?.[1] ?? "";
      return `${prefix}\n${indentation}${marker}`;
    },
  };
}

const PASSWORD_NAMES = String.raw`password|passwd|passphrase|[_.-](?:pass|pwd)`;
const SECRET_NAMES = String.raw`secret|api[_-]?key|token|(?:secret|private|signing|encryption)[_-]?key`;

/**
 * A name/value pair whose name says secret: a container's environment in Kubernetes
 * (`- name: DB_PASSWORD` then `value: ...`) or ECS (`{"name": "API_TOKEN", "value": "..."}`),
 * CloudFormation's ParameterKey/ParameterValue. The name must end with the secret word
 * (DB_PASSWORD_FILE and DB_SECRET_ARN hold no secret); "value" follows on the same line or the
 * next (behind the same diff marker). `valueFrom` is a reference and is not matched.
 */
function nameValuePair(kind: SecretKind, names: string): Detector {
  return {
    kind,
    pattern: new RegExp(
      String.raw`((?<![A-Za-z0-9_])(?:name|key|parameterkey)["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9_.-]{0,100}?(?:${names})["']?[ \t]*,?[ \t]*(?:\r?\n[+ -]?[ \t]*)?["']?(?:value|parametervalue)["']?[ \t]*[:=][ \t]*)${NOT_ALREADY_MASKED}${ASSIGNED_VALUE}`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
    pairedName: true,
    accept: notBlockIndicator,
  };
}

/**
 * A heredoc under a secret name (Terraform's `password = <<EOT`, `<<-EOT`): the lines up to
 * the delimiter's own line (in a diff behind the same "+", "-" or " "), at most 200, are masked
 * as one; the name and both delimiters are kept.
 */
function heredoc(kind: SecretKind, names: string): Detector {
  return {
    kind,
    pattern: new RegExp(
      String.raw`((?:^|\n)([+ -]?)[ \t]*${NAME_START}[A-Za-z0-9_.-]*(?:${names})["']?[ \t]*[:=][ \t]*<<[-~]?(["']?)([A-Za-z_][A-Za-z0-9_]*)\3[ \t]*)((?:\r?\n(?!\2[ \t]*\4[ \t]*\r?(?:\n|$))${NOT_ALREADY_MASKED}[^\n]*){1,200})`,
      "gi",
    ),
    prefixed: true,
    mask: (marker, prefix, value) => {
      const indentation = /^\r?\n([+ -]?[ \t]*)/.exec(value)?.[1] ?? "";
      return `${prefix}\n${indentation}${marker}`;
    },
  };
}

const BUILT_IN: readonly Detector[] = [
  {
    kind: "private_key",
    // A whole PEM block (PKCS#1/#8, OpenSSH, encrypted) or PGP private key block, or everything
    // after a BEGIN whose END was cut off.
    pattern:
      /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g,
  },
  {
    kind: "private_key",
    // The same, base64-encoded whole (Kubernetes secrets, environment variables), and the
    // lines after it when the encoding is wrapped (`base64` wraps at 76 columns): each a line of
    // base64 only, behind the same kind of indentation or diff marker.
    pattern:
      /\bLS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}={0,2}(?:\r?\n[+ -]?[ \t]*(?:[A-Za-z0-9+/]{4,}={0,2}|[A-Za-z0-9+/]{2,3}={1,2})(?![^\r\n]))*/g,
    accept: isEncodedPrivateKey,
  },
  {
    kind: "private_key",
    // A JSON Web Key's private members ("d", "p", "q", "dp", "dq", "qi"; "k" of a symmetric
    // key) in an object that has "kty", in any member order, in escaped JSON too. The object
    // is one run without braces, so each "{" scans only up to the next brace: linear.
    pattern: /\{(?=[^{}]*\\?"kty\\?")[^{}]*(?:\}|$)/g,
    accept: (object) => object.search(JWK_PRIVATE_MEMBER) !== -1,
    mask: (marker, _prefix, object) =>
      object.replace(JWK_PRIVATE_MEMBER, (_member: string, name: string) => `${name}${marker}`),
  },
  {
    kind: "jwt",
    // Only the first "eyJ" of a run is tried (the lookbehind): a later one in the same run of
    // [A-Za-z0-9_-] fails whenever the first did, and trying each would be quadratic.
    pattern:
      /\b(?=eyJ)(?<!\beyJ[A-Za-z0-9_-]*?)eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  },
  {
    kind: "jwt",
    // An unsigned or cut JWT: a JSON header and a JSON payload (both start "eyJ").
    pattern:
      /\b(?=eyJ)(?<!\beyJ[A-Za-z0-9_-]*?)eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}(?![A-Za-z0-9_.-])/g,
  },
  {
    kind: "aws_secret_access_key",
    pattern: new RegExp(
      // Assigned, or given as a command's argument: `aws configure set aws_secret_access_key …`.
      String.raw`((?:aws[_-]?)?secret[_-]?access[_-]?key${NAME_QUOTE}(?:\s*[:=]\s*|[ \t]+)${NAME_QUOTE})${NOT_ALREADY_MASKED}[A-Za-z0-9/+=]{16,}`,
      "gi",
    ),
    prefixed: true,
  },
  {
    kind: "github_token",
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b/g,
  },
  {
    kind: "url_password",
    pattern: new RegExp(
      // scheme://user:password@ (the user may be empty: redis://:password@host, as Redis AUTH
      // URLs are written) — anchored on the ":" of "://", the scheme checked behind it, so a
      // long run of scheme characters is not rescanned from each of its letters.
      String.raw`(:(?<=\b[a-z][a-z0-9+.-]*:)//[^\s:/@[\]]*:)${NOT_ALREADY_MASKED}[^\s@/]+(?=@)`,
      "gi",
    ),
    prefixed: true,
    // Not a quoted URL that ends before the "@": "https://host:8000";@other.
    accept: (value) => !/["'`]/.test(value),
  },
  {
    kind: "bearer",
    pattern: new RegExp(
      String.raw`(\b(?:Bearer|Basic)\s+)${NOT_ALREADY_MASKED}[A-Za-z0-9._~+/-]{8,}=*`,
      "g",
    ),
    prefixed: true,
  },
  {
    kind: "http_auth",
    // A registry's stored login: Docker's config.json ("auths": {host: {"auth": "..."}}) and
    // npm's .npmrc (_auth=...) keep base64("user:password") under a key that names no secret.
    pattern: new RegExp(
      String.raw`((?<![A-Za-z0-9_-])_?auth["']?[ \t]*[:=][ \t]*["']?)${NOT_ALREADY_MASKED}[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])`,
      "gi",
    ),
    prefixed: true,
    accept: isEncodedUserPassword,
  },
  {
    kind: "password",
    // password=..., "password": "...", DB_PASSWORD: ..., passwd='...', DB_PASS=..., MYSQL_PWD=...
    // (pass and pwd only after a separator: not "bypass", "compass"). Not "password policy".
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:${PASSWORD_NAMES})${NAME_QUOTE}\s*[:=]\s*)${NOT_ALREADY_MASKED}${ASSIGNED_VALUE}`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
    accept: (value) => notBlockIndicator(value) && notBraced(value),
  },
  {
    kind: "password",
    // A braced password after "=", in a connection string: `Server=db;Password={a;b}c};`
    // (BRACED_VALUE). Otherwise (after ":", `password: { type: String }`; or unclosed) the
    // brace up to where the assignment above would have stopped, as before.
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:${PASSWORD_NAMES})${NAME_QUOTE}\s*[:=]\s*)${NOT_ALREADY_MASKED}((?<==[ \t]*)(?:${BRACED_VALUE})|\{[^\s,;&"'}\]]*)`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
  },
  {
    kind: "password",
    // An ADO.NET or ODBC connection string's password under "Pwd" (Password is above):
    // `Server=db;Uid=sa;Pwd=...;`, `...;PWD={a;b}` (BRACED_VALUE). Only after a ";": a bare
    // `PWD=/home/x` is the shell's working directory.
    pattern: new RegExp(
      String.raw`((?<=;[ \t]{0,5})pwd[ \t]*=[ \t]*)${NOT_ALREADY_MASKED}(${BRACED_VALUE}|"(?:[^"\\\n]|\\.){1,200}"|'[^'\n]{1,200}'|[^\s;"'{}]{1,200})`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
  },
  blockScalar("password", PASSWORD_NAMES),
  nameValuePair("password", PASSWORD_NAMES),
  heredoc("password", PASSWORD_NAMES),
  {
    kind: "password",
    // A command line's flag: `docker login … --password hunter2`, `--db-passphrase "…"`. Not
    // `--password-stdin`, and never another flag taken for the value.
    pattern: new RegExp(
      String.raw`((?:^|[\s"'])--(?:[a-z0-9]+-)*(?:password|passwd|passphrase)[ \t]+)(?!-)${NOT_ALREADY_MASKED}("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
  },
  {
    kind: "password",
    // YAML's unquoted value runs to the end of the line: "passphrase: correct horse battery
    // staple" left "horse battery staple" after the mask above. The words after it go too, up
    // to a comment. Only after ": " (an "=" value with spaces is quoted, or prose follows).
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:${PASSWORD_NAMES})["']?[ \t]*:[ \t]+\[REDACTED:password\])((?: (?![#/=])[^\s,;&"'}\]=:]+)+)`,
      "gi",
    ),
    prefixed: true,
    mask: (_marker, prefix) => prefix,
  },
  {
    kind: "secret",
    // secret=..., client_secret: "...", api_key=..., access_token=..., secret_key = "...",
    // AWS_SECRET_KEY=..., private_key: ... (not an ARN's ":secret:")
    pattern: new RegExp(
      String.raw`(${NAME_START}[A-Za-z0-9_.-]*(?:${SECRET_NAMES})${NAME_QUOTE}\s*[:=]\s*)${NOT_ALREADY_MASKED}${ASSIGNED_VALUE}`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
    accept: notBlockIndicator,
  },
  blockScalar("secret", SECRET_NAMES),
  nameValuePair("secret", SECRET_NAMES),
  heredoc("secret", SECRET_NAMES),
  {
    kind: "secret",
    // The other credentials a command line takes as a flag: `az login --client-secret …`,
    // `vault login --token …`, `--api-key "…"`, `--secret-key …`, `--auth-token …`. Not
    // `--token-file`, `--with-token < file`, or another flag taken for the value.
    pattern: new RegExp(
      String.raw`((?:^|[\s"'])--(?:[a-z0-9]+-)*(?:token|api-?key|(?:secret|access|private)-key|[a-z0-9]+-secret)[ \t]+)(?![-<>|])${NOT_ALREADY_MASKED}("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)`,
      "gi",
    ),
    prefixed: true,
    assignment: true,
  },
];

/** Every detector, in SECRET_KINDS order (stable within a kind: built-in, then rule data). */
const DETECTORS: readonly Detector[] = [
  ...BUILT_IN,
  ...PROVIDER_TOKEN_RULES.map((rule) => ({ kind: rule.kind, pattern: rule.pattern })),
  ...CONTEXT_RULES.map((rule) => ({
    kind: rule.kind,
    pattern: rule.pattern,
    prefixed: true,
    assignment: rule.assignment === true,
    ...(rule.accept === undefined ? {} : { accept: rule.accept }),
  })),
].sort((a, b) => SECRET_KINDS.indexOf(a.kind) - SECRET_KINDS.indexOf(b.kind));

/**
 * Each kind and the pattern of its first detector (global; for tests and tools that only need
 * to find, not mask). SECRET_DETECTOR_PATTERNS lists every pattern.
 */
export const SECRET_PATTERNS: ReadonlyMap<SecretKind, RegExp> = new Map(
  [...DETECTORS].reverse().map((detector) => [detector.kind, detector.pattern]),
);

/** Every detector's pattern with its kind (for tests: triggers, linearity). */
export const SECRET_DETECTOR_PATTERNS: readonly (readonly [SecretKind, RegExp])[] = DETECTORS.map(
  (detector) => [detector.kind, detector.pattern] as const,
);

/** Keep the assignment and the quotes, mask what is between them. */
function quotedValue(marker: string, prefix: string, value: string): string {
  if (value.startsWith('\\"')) {
    if (value.length < 5) return `${prefix}${value}`; // \"\": empty
    return `${prefix}\\"${marker}\\"`;
  }
  const quote = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : "";
  if (quote !== "" && value.length < 3) return `${prefix}${value}`; // an empty value hides nothing
  return `${prefix}${quote}${marker}${quote}`;
}

// ---------------------------------------------------------------------------------------------
// References: where a secret comes from, not the secret

/**
 * Types and keywords: `token: string`, `password: Optional[str]`, `token = await ...`. Only where
 * code goes on after the word (the end, a space, `.([<>|?,;=)]}`): `New@2025x`, `True#Blue77`
 * and `None-Shall-Pass-42` are passwords that begin with one.
 */
const TYPE_OR_KEYWORD =
  /^(?:string|number|boolean|bigint|symbol|object|any|unknown|never|void|undefined|null|str|int|bytes|bool|float|none|nil|optional|secretstr|sensitive|true|false|await|new|typeof|function|lambda|async|yield)(?=$|[\s.([<>|?,;=)\]}])/i;
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
   * (isSecretReference), or plainly no value at all (isPlainlyNotASecret): code and
   * configuration stay readable (`password = var.db_password`, `token: string`). Default false:
   * every assignment to a secret-named key is masked (the audit log's choice: fail closed).
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

/** Words in a key name that say the value is meant to be public: publicToken, publishable_key. */
const PUBLIC_NAME = /(?:^|[^a-z])(?:public|publishable)|(?:Public|Publishable)/;
/** A kebab-case CSS id or class selector: "#add-password", ".reset-token". */
const CSS_SELECTOR = /^[#.][a-z][a-z0-9]*(?:-[a-z0-9]+)+$/;
/** A URL path: "/en/authentication/creating-a-strong-password". */
const URL_PATH = /^\/[\w.@%-]+(?:\/[\w.@%-]*)+$/;
/** A placeholder in brackets: "[UNK]", "<pad>", "<your-api-key>", "[PASSWORD]". */
const BRACKETED_PLACEHOLDER = /^(?:\[[A-Za-z][\w -]{0,30}\]|<[A-Za-z][\w -]{0,30}>)$/;
/** The quote closed a literal and code follows: `'password = '.$p['x']`, `"pw: " + getPw()`. */
const CONCATENATION = /^\s*(?:\.|\+|&)\s*[$A-Za-z_(]/;

/**
 * Whether an assignment that a detector found is plainly not a secret: the value is on another
 * line (the name had none), the name says public, the separator is a bare ":" glued to an
 * unquoted name (a Maven coordinate or host:port, not YAML), the value is a one- or two-digit
 * setting, a CSS selector, a URL path, a placeholder in brackets, or the tail of a
 * concatenation.
 */
export function isPlainlyNotASecret(prefix: string, value: string): boolean {
  if (prefix.includes("\n") || PUBLIC_NAME.test(prefix)) return true;
  // A colon glued to a name is a coordinate or host:port, not YAML; but a name that says
  // password is a credential whatever the separator ("password:hunter2").
  if (/[A-Za-z0-9_]:$/.test(prefix) && !PASSWORD_NAME.test(prefix)) return true;
  if (/^\d{1,2}$/.test(value)) return true;
  const quote = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : "";
  if (quote === "") return false;
  const inner = value.slice(1, value.endsWith(quote) && value.length > 1 ? -1 : undefined);
  return [CSS_SELECTOR, URL_PATH, CONCATENATION, BRACKETED_PLACEHOLDER].some((shape) =>
    shape.test(inner),
  );
}

/** A double-quoted shell variable: "$DB_PASSWORD", "${db_password}", "'$PW'" (quotes nested). */
const QUOTED_SHELL_VARIABLE = /^"'?\$\{?[A-Za-z_][A-Za-z0-9_]*\}?'?"$/;

/** A name that says password: password, passwd, passphrase, DB_PASS, MYSQL_PWD. */
const PASSWORD_NAME = /(?:password|passwd|passphrase|[_.-](?:pass|pwd))\\?["']?\s*[:=]$/i;
/**
 * `NAME=value` with the "=" glued to the name, as .env and .properties files write it: their
 * values are literals (a reference there is ${...}), so a dotted value is a value
 * (DB_PASSWORD=correct.horse.battery), not a code path.
 */
const GLUED_ASSIGNMENT = /[A-Za-z0-9_.-]=$/;

/**
 * `password: value`, YAML's colon (or an object literal's) after a name that says password. A
 * dotted value there that does not read as code (it starts with a capital or holds a digit:
 * `password: Prod.Db.Pass2024`) is a literal; `password: settings.db.password` stays a
 * reference.
 */
const PASSWORD_COLON = /(?:password|passwd|passphrase|[_.-](?:pass|pwd))\\?["']?\s*:\s*$/i;
const LITERAL_LOOKING = /^[A-Z]|\d/;

function keepsAssignment(prefix: string, rawValue: string): boolean {
  // An escaped-quoted value (\"...\") is judged as the quoted value it stands for.
  const value =
    rawValue.startsWith('\\"') && rawValue.endsWith('\\"') && rawValue.length >= 4
      ? `"${rawValue.slice(2, -2)}"`
      : rawValue;
  const literalDotted =
    (GLUED_ASSIGNMENT.test(prefix) ||
      (PASSWORD_COLON.test(prefix) && LITERAL_LOOKING.test(value))) &&
    DOTTED_PATH.test(value) &&
    !REFERENCE_ROOT.test(value) &&
    !CALL.test(value);
  if (literalDotted) return false;
  return (
    isSecretReference(value) ||
    QUOTED_SHELL_VARIABLE.test(value) ||
    isPlainlyNotASecret(prefix, value)
  );
}

/**
 * A literal every detector needs (case-insensitively a superset of each): a text without any of
 * them cannot match, and skips the patterns. Most audited strings are ids and enums.
 */
export const SECRET_TRIGGERS = new RegExp(
  [
    String.raw`-----BEGIN|LS0tLS1CRUdJTi|eyJ|gh[pousr]_|github_pat_|:\/\/|\b(?:Bearer|Basic)\s`,
    String.raw`pass|pwd|secret|api[_-]?key|token|key|credential|directoryentry|curl|auth|kty`,
    ...[...PROVIDER_TOKEN_RULES, ...CONTEXT_RULES]
      .flatMap((rule) => rule.keywords)
      .map((keyword) => keyword.replace(/[.*+?^${}()|[\]\\~-]/g, "\\$&")),
  ].join("|"),
  "i",
);

/** One detector over the text: the text after it and how many it masked. */
function applyDetector(
  detector: Detector,
  text: string,
  keepReferences: boolean,
): { text: string; redactions: number } {
  const marker = secretMarker(detector.kind);
  const keep = keepReferences && detector.assignment === true;
  let redactions = 0;
  const out = text.replace(detector.pattern, (match: string, ...rest: unknown[]) => {
    const prefix = detector.prefixed === true && typeof rest[0] === "string" ? rest[0] : "";
    const value = match.slice(prefix.length);
    if (detector.accept !== undefined && !detector.accept(value)) return match;
    const judged = detector.pairedName === true ? prefix.replace(/\r?\n/g, " ") : prefix;
    if (keep && keepsAssignment(judged, value)) return match;
    const replaced =
      detector.mask !== undefined
        ? detector.mask(marker, prefix, value)
        : detector.prefixed === true
          ? quotedValue(marker, prefix, value)
          : marker;
    if (replaced !== match) redactions++;
    return replaced;
  });
  return { text: out, redactions };
}

// ---------------------------------------------------------------------------------------------
// Kubernetes Secret manifests: the values under `data:` and `stringData:` are secrets whatever
// their keys are called (`dbpw`, `config.json`); a ConfigMap's are not.

/** A YAML document's `kind: Secret` line (behind a diff marker too). */
const YAML_SECRET_KIND = /^[+ -]?[ \t]*kind[ \t]*:[ \t]*(["']?)Secret\1[ \t]*\r?$/m;
/** A line that separates YAML documents. */
const YAML_DOCUMENT_SEPARATOR = /^[+ -]?---[ \t]*\r?$/;
/** The line that opens a Secret's values: `data:` or `stringData:` and nothing after it. */
const YAML_DATA_OPENING = /^[+ -]?[ \t]*(?:data|stringData)[ \t]*:[ \t]*\r?$/;
/** A blank or comment line: it neither opens nor closes a block. */
const YAML_BLANK_OR_COMMENT = /^[+ -]?[ \t]*(?:#.*)?\r?$/;
/** One `key: value` entry; group 1 the key and separator (kept), group 2 the value. */
const YAML_ENTRY = /^([+ -]?[ \t]*(?:"[^"\n]*"|'[^'\n]*'|[A-Za-z0-9._-]+)[ \t]*:[ \t]*)(.*)$/;

/** A line's indentation, a diff marker ("+", "-") counted as the blank it stands in for. */
function indentation(line: string): number {
  let depth = line.startsWith("+") || line.startsWith("-") ? 1 : 0;
  while (line[depth] === " " || line[depth] === "\t") depth++;
  return depth;
}

/** One entry under a Secret's data, its value masked (kept if empty, masked, or a reference). */
function maskYamlEntry(line: string, keepReferences: boolean): { line: string; masked: boolean } {
  const entry = YAML_ENTRY.exec(line.replace(/\r$/, ""));
  const prefix = entry?.[1];
  const value = entry?.[2]?.trimEnd() ?? "";
  if (prefix === undefined || value === "" || !notBlockIndicator(value)) {
    return { line, masked: false };
  }
  if (/^["']?\[REDACTED/.test(value) || (keepReferences && isSecretReference(value))) {
    return { line, masked: false };
  }
  const cr = line.endsWith("\r") ? "\r" : "";
  return { line: `${quotedValue(secretMarker("secret"), prefix, value)}${cr}`, masked: true };
}

/**
 * The lines of one Secret document, each value under its `data:` and `stringData:` masked; the
 * lines of a block scalar (`key: |` and the lines below, deeper than the keys) become one.
 */
function maskYamlSecretDocument(
  lines: readonly string[],
  keepReferences: boolean,
): { lines: string[]; redactions: number } {
  const out: string[] = [];
  let redactions = 0;
  let dataDepth = -1; // inside a data block when >= 0
  let keyDepth = -1;
  let contentMasked = false; // the lines below the current key were replaced by a marker
  for (const line of lines) {
    if (dataDepth >= 0 && !YAML_BLANK_OR_COMMENT.test(line)) {
      const depth = indentation(line);
      if (depth <= dataDepth) {
        dataDepth = -1;
      } else {
        if (keyDepth < 0) keyDepth = depth;
        if (depth <= keyDepth) {
          const masked = maskYamlEntry(line, keepReferences);
          out.push(masked.line);
          if (masked.masked) redactions++;
          contentMasked = false;
        } else if (!contentMasked) {
          out.push(`${line.slice(0, depth)}${secretMarker("secret")}`);
          redactions++;
          contentMasked = true;
        }
        continue;
      }
    }
    if (YAML_DATA_OPENING.test(line)) {
      dataDepth = indentation(line);
      keyDepth = -1;
      contentMasked = false;
    }
    out.push(line);
  }
  return { lines: out, redactions };
}

/** Every YAML Secret document of a text (split at `---`), its values masked. */
function maskYamlSecrets(
  text: string,
  keepReferences: boolean,
): { text: string; redactions: number } {
  if (!YAML_SECRET_KIND.test(text)) return { text, redactions: 0 };
  const lines = text.split("\n");
  const documents: string[] = [];
  let redactions = 0;
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    if (i < lines.length && !YAML_DOCUMENT_SEPARATOR.test(lines[i] ?? "")) continue;
    let document = lines.slice(start, i);
    if (document.some((line) => YAML_SECRET_KIND.test(line))) {
      const masked = maskYamlSecretDocument(document, keepReferences);
      document = masked.lines;
      redactions += masked.redactions;
    }
    if (i < lines.length) document.push(lines[i] ?? "");
    documents.push(document.join("\n"));
    start = i + 1;
  }
  return { text: documents.join("\n"), redactions };
}

/** A JSON Secret's `"kind": "Secret"`. */
const JSON_SECRET_KIND = /"kind"[ \t\r\n]*:[ \t\r\n]*"Secret"/;
/**
 * A JSON object under "data" or "stringData": group 1 its opening (kept), group 2 its members up
 * to the closing brace (strings taken whole, so a brace inside one does not end it).
 */
const JSON_DATA_OBJECT =
  /("(?:data|stringData)"[ \t\r\n]*:[ \t\r\n]*\{)((?:"(?:[^"\\\n]|\\.)*"|[^{}"])*)(?=\})/g;
/** One member with a string value: group 1 the name and colon (kept), group 2 the value. */
const JSON_STRING_MEMBER = /("(?:[^"\\\n]|\\.)*"[ \t\r\n]*:[ \t\r\n]*)("(?:[^"\\\n]|\\.)*")/g;

/** Every JSON Secret's data and stringData values masked (when the text holds a Secret). */
function maskJsonSecrets(
  text: string,
  keepReferences: boolean,
): { text: string; redactions: number } {
  if (!JSON_SECRET_KIND.test(text)) return { text, redactions: 0 };
  let redactions = 0;
  const out = text.replace(JSON_DATA_OBJECT, (_match, opening: string, members: string) => {
    const masked = members.replace(JSON_STRING_MEMBER, (member, name: string, value: string) => {
      if (value.length < 3 || value.startsWith('"[REDACTED')) return member;
      if (keepReferences && isSecretReference(value)) return member;
      redactions++;
      return quotedValue(secretMarker("secret"), name, value);
    });
    return `${opening}${masked}`;
  });
  return { text: out, redactions };
}

/** Whether a member of a parsed object is a Kubernetes Secret's data or stringData object. */
export function isKubernetesSecretData(key: string, item: unknown, parent: object): boolean {
  return (
    (key === "data" || key === "stringData") &&
    typeof item === "object" &&
    item !== null &&
    !Array.isArray(item) &&
    (parent as Record<string, unknown>)["kind"] === "Secret"
  );
}

/** Mask secret-looking substrings of one string. Masking twice changes nothing more. */
export function redactSecrets(text: string, options: RedactOptions = {}): RedactedText {
  if (!SECRET_TRIGGERS.test(text)) return { text, redactions: 0, kinds: [] };
  const keepReferences = options.keepReferences === true;
  let redactions = 0;
  const kinds: SecretKind[] = [];
  let out = text;
  for (const detector of DETECTORS) {
    const applied = applyDetector(detector, out, keepReferences);
    out = applied.text;
    redactions += applied.redactions;
    if (applied.redactions > 0 && !kinds.includes(detector.kind)) kinds.push(detector.kind);
  }
  for (const maskManifests of [maskYamlSecrets, maskJsonSecrets]) {
    const applied = maskManifests(out, keepReferences);
    out = applied.text;
    redactions += applied.redactions;
    if (applied.redactions > 0 && !kinds.includes("secret")) kinds.push("secret");
  }
  return { text: out, redactions, kinds };
}
