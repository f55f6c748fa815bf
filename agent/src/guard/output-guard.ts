// The worker's output guard: every tool result passes here before it leaves the worker.
//
// 1. Secrets are redacted, not just detected: inside every string (and object key), substrings
//    that look like credentials become "[REDACTED:<kind>]" (common/secrets.ts: AWS access key
//    ids and secret keys, private keys, GitHub and Slack tokens, JWTs, bearer tokens, passwords
//    in assignments and URLs); a value under a key that names a secret (password, api_key,
//    client_secret...), or a JSON Web Key's private member ("d", "k"... beside "kty"), becomes
//    "[REDACTED:secret_field]" whatever it is, and so does every value under a Kubernetes
//    Secret's data or stringData (in text too: common/secrets.ts). The rest is unchanged.
//    Code under review stays readable: an assignment whose value only says where a secret comes
//    from (`password = var.db_password`, `token: string`, `${{ secrets.TOKEN }}`) is kept, so
//    the reviewer can tell it from a hard-coded one (`password = "hunter2"`, masked).
// 2. Prompt injection is flagged, not removed: every string is scanned for instructions aimed
//    at the model (./injection.ts) and the result says which indicators it found. The reviewer
//    still sees the text; the gateway marks the session tainted.
//
// The result is a JSON value (what JSON.stringify would keep: undefined members dropped,
// non-finite numbers null, dates as ISO strings; cycles become "[circular]"). Pure: no I/O.
import { UNBOUNDED, jsonCopy, type JsonValue } from "../../../common/json-copy.ts";
import { shortStringMemo } from "../../../common/short-string-memo.ts";
import {
  isJwkPrivateMember,
  isKubernetesSecretData,
  isSecretKey,
  redactSecrets,
  secretMarker,
} from "../../../common/secrets.ts";
import {
  DEFAULT_INTERNAL_DOMAINS,
  orderIndicators,
  scanText,
  type InjectionIndicator,
  type InjectionScanOptions,
} from "./injection.ts";

export {
  DEFAULT_INTERNAL_DOMAINS,
  INJECTION_INDICATORS,
  detectInjection,
  type InjectionIndicator,
  type InjectionScanOptions,
} from "./injection.ts";

export type { JsonValue };

export interface InjectionReport {
  /** Whether any indicator was found. */
  suspected: boolean;
  /** Stable ids (INJECTION_INDICATORS), each once, in that order. */
  indicators: InjectionIndicator[];
}

export interface GuardResult {
  /** The result, secrets redacted, the rest unchanged. */
  value: JsonValue;
  /** How many secrets were redacted (substrings plus values under secret keys). */
  redactions: number;
  injection: InjectionReport;
}

export type GuardOptions = InjectionScanOptions;

/** What a value under a secret key becomes. */
export const SECRET_FIELD_MARKER = secretMarker("secret_field");

/** Deeper than this is not a tool result; the rest is replaced by a marker. */
const MAX_DEPTH = 64;

/**
 * A Kubernetes Secret's data (or stringData) object: every value that holds something becomes
 * the marker; the keys stay, guarded as keys.
 */
function maskSecretData(
  data: object,
  guardKey: (key: string) => string,
  counted: () => void,
): JsonValue {
  const masked: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(data) as [string, unknown][]) {
    if (item === undefined) continue;
    if (item === null || item === "") {
      masked[guardKey(key)] = item; // nothing to hide
      continue;
    }
    counted();
    masked[guardKey(key)] = SECRET_FIELD_MARKER;
  }
  return masked;
}

/** What the guard makes of one string by itself: its text, secrets masked, and its indicators. */
interface GuardedString {
  text: string;
  redactions: number;
  indicators: readonly InjectionIndicator[];
}

/**
 * guardOne remembered for short strings (common/short-string-memo.ts), one memo per set of
 * internal domains (they change the verdict).
 */
const memos = new WeakMap<readonly string[], (text: string) => Readonly<GuardedString>>();

function guardOne(text: string, options: GuardOptions): GuardedString {
  const found = new Set<InjectionIndicator>();
  scanText(text, found, options);
  const redacted = redactSecrets(text, { keepReferences: true });
  return { text: redacted.text, redactions: redacted.redactions, indicators: [...found] };
}

/**
 * What the guard makes of one string, remembered for short strings (issue 18). A pure function
 * of the text and the domains: each string is scanned and masked on its own, and the result's
 * indicators are the union of its strings' (scanText adds, never removes).
 */
function guardString(text: string, options: GuardOptions): Readonly<GuardedString> {
  const domains = options.internalDomains ?? DEFAULT_INTERNAL_DOMAINS;
  let memo = memos.get(domains);
  if (memo === undefined) {
    // The domains are all the options there are: the memo is theirs alone.
    memo = shortStringMemo((one) => guardOne(one, { internalDomains: domains }), {
      maxLength: 64,
      maxEntries: 4096,
    });
    memos.set(domains, memo);
  }
  return memo(text);
}

/** Redacts the secrets of a tool result and reports the prompt-injection indicators in it. */
export function guardOutput(value: unknown, options: GuardOptions = {}): GuardResult {
  let redactions = 0;
  const found = new Set<InjectionIndicator>();
  const guardText = (text: string): string => {
    const guarded = guardString(text, options);
    for (const indicator of guarded.indicators) found.add(indicator);
    redactions += guarded.redactions;
    return guarded.text;
  };
  const guarded = jsonCopy(
    value,
    {
      string: guardText,
      key: guardText,
      member: (rawKey, item, parent) => {
        if (isKubernetesSecretData(rawKey, item, parent)) {
          return maskSecretData(item as object, guardText, () => redactions++);
        }
        if (
          (!isSecretKey(rawKey) && !isJwkPrivateMember(rawKey, parent)) ||
          item === null ||
          item === undefined ||
          typeof item === "boolean" ||
          item === SECRET_FIELD_MARKER
        ) {
          return undefined;
        }
        redactions++;
        return SECRET_FIELD_MARKER;
      },
      truncated: () => undefined,
    },
    { maxDepth: MAX_DEPTH, ...UNBOUNDED },
  );
  const indicators = orderIndicators(found);
  return {
    value: guarded,
    redactions,
    injection: { suspected: indicators.length > 0, indicators },
  };
}
