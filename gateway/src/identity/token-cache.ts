// Verified tokens, remembered by the SHA-256 of the token until the token's own expiry, least
// recently used evicted first. Bounded. Each entry keeps the header and the key that verified
// it: the verifiers serve it only while the key set still gives that key (JwtChecker
// stillTrusted), so a key the issuer withdraws stops its cached tokens too.
import { hash } from "node:crypto";
import type { CompactJWSHeaderParameters } from "jose";

/** A verified token's value, with what verified it. */
export interface Verified<T> {
  value: T;
  header: CompactJWSHeaderParameters;
  key: unknown;
}

export const MAX_CACHE_ENTRIES = 1_000_000;

/**
 * Until when a verified token may be served from a cache: its exp, or the moment it grows older
 * than `maxTokenAge` seconds after its iat (0: no age bound), whichever comes first. Past either,
 * the uncached path would refuse it, so the cache must too.
 */
export function cacheableUntil(exp: number, iat: unknown, maxTokenAge: number): number {
  const tooOld =
    maxTokenAge === 0 || typeof iat !== "number" ? Number.POSITIVE_INFINITY : iat + maxTokenAge;
  return Math.min(exp, tooOld);
}

export function tokenDigest(token: string): string {
  // One-shot hash: no Hash object per call (two tokens on every call).
  return hash("sha256", token, "base64url");
}

export class VerifiedTokenCache<T> {
  readonly #maxEntries: number;
  readonly #copy: (value: T) => T;
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(maxEntries: number, copy: (value: T) => T) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_CACHE_ENTRIES) {
      throw new TypeError(`"cache.maxEntries" must be an integer from 1 to ${MAX_CACHE_ENTRIES}`);
    }
    this.#maxEntries = maxEntries;
    this.#copy = copy;
  }

  /** The value, while `now` (epoch seconds) is before the token's expiry. */
  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (now >= entry.expiresAt) return undefined;
    this.#entries.set(key, entry);
    return this.#copy(entry.value);
  }

  set(key: string, value: T, expiresAt: number): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value: this.#copy(value), expiresAt });
  }
}
