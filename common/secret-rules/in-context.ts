// Secrets that only their context gives away: a literal compared with a password, passed to a
// credential constructor, under an XML key or element that names a secret, after "password is"
// (quoted, or bare and shaped like a password), after `curl -u user:`, or after an
// Authorization scheme. Data only (and the predicates rules accept values with), read by
// common/secrets.ts.
//
// The shapes follow the generic rules of Nosey Parker (https://github.com/praetorian-inc/
// noseyparker, crates/noseyparker/data/default/builtin/rules/generic.yml; Apache-2.0) and
// gitleaks (curl.go, azure.go; MIT), written anew for JavaScript.
//
// Invariants: every pattern is global and case-insensitive where words are matched; group 1 is
// the context kept verbatim, group 2 the value that is masked (quotes kept around the marker);
// each match ends where the value ends; a rule's `accept` is pure and looks at the value only.
// Each starts at a fixed literal and repeats only bounded or disjoint classes, so the cost is
// linear in the length of the text. Each lists `keywords`: every match contains one of them
// (case-insensitively).

export interface ContextRule {
  readonly id: string;
  readonly kind: ContextKind;
  readonly pattern: RegExp;
  readonly keywords: readonly string[];
  /** The value may be a reference (a variable, a call) rather than the secret itself. */
  readonly assignment?: true;
  /** Whether the value (group 2) is a secret after all (default: yes). */
  readonly accept?: (value: string) => boolean;
}

export const CONTEXT_KINDS = ["azure_storage_key", "http_auth", "password", "secret"] as const;
export type ContextKind = (typeof CONTEXT_KINDS)[number];

const NOT_MASKED = String.raw`(?!["']?\[REDACTED)`;
/** A quoted literal on one line. */
const QUOTED = String.raw`"(?:[^"\\\n]|\\.){1,200}"|'[^'\n]{1,200}'`;
/** A string argument that is not the secret (a path, a user name). */
const ARG = String.raw`(?:"[^"\n]{0,200}"|'[^'\n]{0,200}')\s*,\s*`;

/** A bare value in prose: up to 64 characters, not ending in a sentence's punctuation. */
const BARE = String.raw`[^\s"'\`<>()[\]{}]{5,63}[^\s"'\`<>()[\]{}.,;:?](?=[.,;:?!)\]]*(?:\s|$))`;

/**
 * Whether a bare value that prose calls a password is shaped like one: letters and digits and
 * a symbol (`hunter2!x`), or a word with digits inside it (`S3cr3t-value`), or mixed case with
 * digits (`Summer2024`). Not words (`incorrect`), technical terms (`SHA-256`, `base64-encoded`,
 * `e2e-tested`, `i18n`), versions, dates, paths, variables or links.
 */
export function isPasswordShaped(value: string): boolean {
  if (!/[A-Za-z]/.test(value) || !/\d/.test(value)) return false;
  if (/^[/~$%]|:\/\//.test(value)) return false;
  // A term and a participle: "SHA-256-hashed", "AES256-encrypted", "PBKDF2-derived".
  if (/^[A-Za-z0-9.]+(?:-[A-Za-z0-9.]+)*-[a-z]{3,}ed$/.test(value)) return false;
  if (/[^A-Za-z0-9._-]/.test(value)) return true;
  const interleaved = (word: string): boolean =>
    word.length >= 5 && /[A-Za-z]\d+[A-Za-z]/.test(word);
  if (value.split(/[._-]/).some(interleaved)) return true;
  return value.length >= 8 && /[a-z]/.test(value) && /[A-Z]/.test(value);
}

export const CONTEXT_RULES: readonly ContextRule[] = [
  {
    // `password == "team10"`, `creds.Secret != 'x'`, `db_pass !== "x"`, `:password => 'x'`.
    id: "password-comparison",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:[A-Za-z0-9_]*(?:password|passwd|passphrase|secret|_pass|_pwd)|pass|pwd)\b["'\]]?[ \t]*(?:===?|!==?|=>)[ \t]*)${NOT_MASKED}(${QUOTED})`,
      "gi",
    ),
    keywords: ["pass", "pwd", "secret"],
    assignment: true,
  },
  {
    // "The default password is 'blooberry'", "password for the user "x" is "y"".
    id: "password-in-prose",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\bpassword(?: for [^\n.]{1,60}?)? (?:is|was|will be) )${NOT_MASKED}(${QUOTED})`,
      "gi",
    ),
    keywords: ["password"],
  },
  {
    // The same without quotes, as a ticket comment says it: "the password is hunter2!x",
    // "pwd: S3cr3t-value", "new passwd is: q9Zr7kLm". Only a password-shaped value.
    id: "password-in-prose-bare",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:password|passwd|passphrase)(?: for [^\n.]{1,60}?)?[ \t]+(?:is|was|will be)[ \t]*:?[ \t]+|\bpwd[ \t]*:[ \t]+|\bpwd[ \t]+(?:is|was)[ \t]+)${NOT_MASKED}(${BARE})`,
      "gi",
    ),
    keywords: ["pass", "pwd"],
    accept: isPasswordShaped,
  },
  {
    // new NetworkCredential("user", "password"), PasswordAuthentication("user", "password"...),
    // Python's HTTPBasicAuth("user", "password") (requests) and BasicAuth("user", "password")
    // (aiohttp)
    id: "credential-constructor",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:NetworkCredential|PasswordAuthentication|UsernamePasswordCredentials?|PasswordCredential|BasicCredentials?|HTTP(?:Basic|Digest|Proxy)Auth|BasicAuth)\s*\(\s*${ARG})${NOT_MASKED}(${QUOTED})`,
      "g",
    ),
    keywords: ["Credential", "PasswordAuthentication", "Auth"],
  },
  {
    // new DirectoryEntry("LDAP://host", "user", "password")
    id: "directory-entry",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\bDirectoryEntry\s*\(\s*${ARG}${ARG})${NOT_MASKED}(${QUOTED})`,
      "g",
    ),
    keywords: ["DirectoryEntry"],
  },
  {
    // <add key="SmtpPassword" value="..."/> (.NET configuration)
    id: "xml-key-value",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\bkey\s*=\s*"[^"\n]{0,80}?(?:password|passwd|pwd|secret|token|api_?key)[^"\n]{0,80}"\s+value\s*=\s*)${NOT_MASKED}("[^"\n]{1,200}")`,
      "gi",
    ),
    keywords: ["key"],
  },
  {
    // <secret>...</secret>, <db.password>...</db.password>
    id: "xml-element",
    kind: "secret",
    pattern: new RegExp(
      String.raw`(<((?:[A-Za-z0-9]{1,40}[_.-])?(?:password|passwd|passphrase|secret|token|api_?key|access_?key))>)${NOT_MASKED}([^<\n]{1,300})(?=</\2>)`,
      "gi",
    ),
    keywords: ["pass", "secret", "token", "key"],
    assignment: true,
  },
  {
    // AccountKey=..., SharedAccessKey=..., storageAccountKey = "...", account_key: '...'
    // (also across a line break or a `||` default, as in code that falls back to a literal).
    id: "azure-storage-account-key",
    kind: "azure_storage_key",
    pattern: new RegExp(
      String.raw`((?:account|storage|shared[_-]?access)[_-]?key\b["']?(?:[ \t\n]{0,20}(?:=|:|,|\|\|)){1,2}[ \t\n]{0,20}["']?)${NOT_MASKED}([A-Za-z0-9+/]{30,}={0,2})(?![A-Za-z0-9+/=])`,
      "gi",
    ),
    keywords: ["key"],
  },
  {
    // curl -u user:password, curl --user 'user:password', curl -uuser:password (on the curl
    // command's line, or a line it continues with a trailing backslash, as runbooks write
    // one option a line: `docker run -u 1000:1000` on the next command is no credential)
    id: "curl-auth-user",
    kind: "http_auth",
    pattern: new RegExp(
      String.raw`(\bcurl\b(?:[^\\\n]|\\\r?\n|\\(?![\r\n])){0,500}?[ \t](?:-u(?:[ \t]{1,5})?|--user(?:=|[ \t]{1,5}))["']?[^\s:"'$]{1,100}:)${NOT_MASKED}([^\s"'$]{3,200})`,
      "g",
    ),
    keywords: ["curl"],
  },
  {
    // Authorization: Token ..., Authorization: Api-Token ...; Bearer and Basic in any case
    // (`authorization: bearer ...`, as HTTP/2 and many clients write them; the capitalised
    // schemes anywhere: common/secrets.ts)
    id: "authorization-scheme",
    kind: "http_auth",
    pattern: new RegExp(
      String.raw`(\bAuthorization["']?[ \t]*[:=][ \t]*["']?(?:Api-?Token|Token|Digest|Key|Bot|SSWS|GenieKey|Bearer|Basic)[ \t]+)${NOT_MASKED}([A-Za-z0-9._~+/=-]{8,})`,
      "gi",
    ),
    keywords: ["Authorization"],
  },
  {
    // requests' `auth=("user", "password")`, Elasticsearch's `http_auth=('user', 'password')`,
    // `basic_auth=(user, "password")`: a tuple whose second member is a literal.
    id: "python-auth-tuple",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:[A-Za-z0-9_]{0,40}_)?auth[ \t]*=[ \t]*\(\s*(?:${ARG}|[A-Za-z_][A-Za-z0-9_.]{0,100}\s*,\s*))${NOT_MASKED}(${QUOTED})`,
      "gi",
    ),
    keywords: ["auth"],
  },
  {
    // A .netrc entry: `machine host login user password secret`, on one line or several, or
    // the fallback entry for every other host, `default login user password secret`.
    id: "netrc",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:machine[ \t]+[A-Za-z0-9.:_-]{1,253}|default)\s+login\s+[^\s]{1,200}\s+password[ \t]+)${NOT_MASKED}("(?:[^"\\\n]|\\.){1,200}"|[^\s"]{1,200})`,
      "g",
    ),
    keywords: ["machine", "password"],
  },
  {
    // mysql -pSECRET (the value glued to -p; `-p db` prompts and names a database), in
    // mysqldump, mysqladmin, mariadb too: within 200 characters of the command on its line,
    // up to a ; | or &.
    id: "mysql-password-flag",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb|mariadb-dump)\b[^\n;|&]{0,200}?[ \t]-p)${NOT_MASKED}("(?:[^"\\\n]|\\.){1,200}"|'[^'\n]{1,200}'|[^\s"'-][^\s"']{0,199})`,
      "g",
    ),
    keywords: ["mysql", "mariadb"],
    assignment: true,
  },
  {
    // sshpass -p SECRET ssh ... (or -pSECRET), after sshpass's other flags.
    id: "sshpass-password-flag",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\bsshpass(?:[ \t]+-[a-oq-zA-Z][^\s]{0,100}){0,5}[ \t]+-p[ \t]*)${NOT_MASKED}("(?:[^"\\\n]|\\.){1,200}"|'[^'\n]{1,200}'|[^\s"'-][^\s"']{0,199})`,
      "g",
    ),
    keywords: ["sshpass"],
    assignment: true,
  },
  {
    // redis-cli -a SECRET, redis-cli --pass SECRET: within 200 characters of the command on its
    // line, up to a ; | or &.
    id: "redis-cli-password-flag",
    kind: "password",
    pattern: new RegExp(
      String.raw`(\bredis-cli\b[^\n;|&]{0,200}?[ \t](?:-a|--pass)[ \t]+)${NOT_MASKED}("(?:[^"\\\n]|\\.){1,200}"|'[^'\n]{1,200}'|[^\s"'-][^\s"']{0,199})`,
      "g",
    ),
    keywords: ["redis-cli"],
    assignment: true,
  },
  {
    // An Azure shared access signature's signature in a URL's query (`...&sp=r&sig=...`, also
    // after an HTML `&amp;`): the rest of the URL is kept.
    id: "azure-sas-signature",
    kind: "secret",
    pattern: new RegExp(String.raw`([?&;]sig=)${NOT_MASKED}([A-Za-z0-9%+/=_-]{16,200})`, "g"),
    keywords: ["sig="],
  },
];
