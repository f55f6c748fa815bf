// The gateway's PUBLIC call-token key set as the worker holds it: read at start
// (agent/src/config.ts, GATEWAY_CALL_JWKS), then read again while the worker runs, so that a
// rotated gateway key verifies without restarting the worker.
//
// How keys rotate in practice: the gateway reads its private call key at start and publishes the
// public half as the whole set (GATEWAY_CALL_JWKS_PUBLISH, or ensureDevKeys'
// .state/keys/gateway.jwks.json), written to a temporary file and renamed over the old one. A
// gateway started with a new key therefore replaces the set: the new kid appears and the old one
// goes. The worker sees the new kid on the first token signed with it, and the old key stops
// verifying once the new set is read.
//
// Invariants:
//   - A validated, non-empty key set is always in use. A re-read goes through every check of the
//     start (parseGatewayKeySet: JSON, a non-empty "keys" array, a kid on each; then
//     importCompactJwtKeys: EC P-256 or Ed25519 only, no private member, unique kids, use/key_ops/
//     alg consistent). A file that fails any of them, or cannot be read, is refused: the set in
//     use stays, the refusal is logged (error, "gateway_keys_refused") and counted (onReload).
//     That file version is not read again; the next change of the file is.
//   - A set taken replaces the old one whole: a key no longer in the file stops verifying at once.
//   - At most one read per `minIntervalMs` (1 s), coalesced: callers during one share it. Two
//     triggers: a token whose kid the set lacks (the caller waits for the read, at most about
//     `minIntervalMs`, and the token is then checked once more), and a poll every `pollMs` (1 s)
//     that reads the file only when its stat (inode, size, mtime, ctime) changed. Tokens of known
//     kids never wait for, nor cause, any file access.
//   - The file is stat'ed before it is read: a read that races a writer who does not rename
//     (open with truncation, then write) may be refused as malformed, but the writer's last write
//     changes the stat, and the complete file is read at the next poll.
// Failure modes: nothing here throws once created (the initial set is checked by the
// constructor, which throws TypeError as the start did); a refused reload is logged and counted.
import { readFile, stat } from "node:fs/promises";
import type { JSONWebKeySet } from "jose";
import { importCompactJwtKeys, type CompactJwtKeys } from "../../common/compact-jwt.ts";
import type { Log } from "../../common/service.ts";
import { parseGatewayKeySet } from "./config.ts";

/** What one attempt did: took a new set, found nothing new, or refused the file. */
export type KeySetReload = "loaded" | "unchanged" | "refused";

export interface GatewayKeySet {
  /** The keys in use; asked at every verification, replaced whole by a reload. */
  readonly keys: () => CompactJwtKeys;
  /** The kids in use, in the file's order. */
  readonly kids: () => readonly string[];
  /** Reads the file again if it changed: coalesced, at most once per interval (it may wait). */
  refresh(): Promise<KeySetReload>;
  /** Stops the poll. */
  close(): void;
}

export interface GatewayKeySetOptions {
  /** The file to read again (GATEWAY_CALL_JWKS). */
  path: string;
  /** The set read at start, from that file. */
  initial: JSONWebKeySet;
  log: Log;
  /** Shortest time between two reads (default 1000 ms). */
  minIntervalMs?: number;
  /** How often the file's stat is checked (default 1000 ms; 0: never, only on unknown kids). */
  pollMs?: number;
  /** Told of each attempt that loaded or refused a set (metrics). */
  onReload?: (outcome: Exclude<KeySetReload, "unchanged">) => void;
}

/** A key set that never changes (tests, and one app without a file). */
export function fixedGatewayKeySet(jwks: JSONWebKeySet): GatewayKeySet {
  const keys = importCompactJwtKeys(jwks);
  const kids = [...keys.keys()];
  return {
    keys: () => keys,
    kids: () => kids,
    refresh: () => Promise.resolve("unchanged"),
    close: () => undefined,
  };
}

function stampOf(stats: {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}): string {
  return [stats.dev, stats.ino, stats.size, stats.mtimeNs, stats.ctimeNs].join(":");
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
}

export function createGatewayKeySet(options: GatewayKeySetOptions): GatewayKeySet {
  const { path, log } = options;
  const minIntervalMs = options.minIntervalMs ?? 1_000;
  const pollMs = options.pollMs ?? 1_000;
  let keys = importCompactJwtKeys(options.initial);
  let kids = [...keys.keys()];
  let text = JSON.stringify(options.initial);
  // The file version last read, taken or refused: not read again until it changes.
  let seen: string | undefined;
  let lastReadAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<KeySetReload> | undefined;

  function refuse(stamp: string, why: string): KeySetReload {
    if (stamp === seen) return "unchanged";
    seen = stamp;
    log("error", "gateway_keys_refused", { path, detail: why, kept: kids });
    return "refused";
  }

  async function read(): Promise<KeySetReload> {
    lastReadAt = performance.now();
    let stamp: string;
    try {
      stamp = stampOf(await stat(path, { bigint: true }));
    } catch (error) {
      return refuse("unreadable", `cannot stat ${path}: ${errorText(error)}`);
    }
    if (stamp === seen) return "unchanged";
    let next: JSONWebKeySet;
    let imported: CompactJwtKeys;
    try {
      next = parseGatewayKeySet(await readFile(path, "utf8"), path);
      imported = importCompactJwtKeys(next);
    } catch (error) {
      return refuse(stamp, errorText(error));
    }
    seen = stamp;
    const nextText = JSON.stringify(next);
    if (nextText === text) return "unchanged";
    const before = kids;
    keys = imported;
    kids = [...imported.keys()];
    text = nextText;
    log("warn", "gateway_keys_reloaded", {
      path,
      kids,
      added: kids.filter((kid) => !before.includes(kid)),
      removed: before.filter((kid) => !kids.includes(kid)),
    });
    return "loaded";
  }

  function refresh(): Promise<KeySetReload> {
    if (pending !== undefined) return pending;
    const waitMs = Math.max(0, lastReadAt + minIntervalMs - performance.now());
    const started =
      waitMs > 0 ? new Promise((resolve) => setTimeout(resolve, waitMs)) : Promise.resolve();
    pending = started
      .then(read)
      .catch((error: unknown) => refuse("failed", errorText(error)))
      .then((outcome) => {
        if (outcome !== "unchanged") options.onReload?.(outcome);
        return outcome;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  const poll =
    pollMs > 0 ? setInterval(() => void refresh(), Math.max(pollMs, minIntervalMs)) : undefined;
  poll?.unref();
  return {
    keys: () => keys,
    kids: () => kids,
    refresh,
    close: () => {
      clearInterval(poll);
    },
  };
}
