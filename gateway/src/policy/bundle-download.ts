// POLICY_BUNDLE_URL: the policy bundle from an HTTP bundle server, as OPA's bundle service
// protocol has it: GET the bundle's URL with If-None-Match: <the ETag last received>; 304 Not
// Modified changes nothing; 200 carries the new bundle (a gzip'd tarball) and its ETag. Polled.
//
// A downloaded bundle is written atomically (temp file, then rename) to a local cache file, and
// the hot-reloading engine (reloader.ts) loads it from there: the same signature verification
// and the same last-good-revision rules as a bundle deployed as a file. The cache also serves
// at the next boot if the server is unreachable then (it is verified again, like any bundle).
//
// Authentication: with a token file (POLICY_BUNDLE_TOKEN_FILE), every request carries
// `Authorization: Bearer <token>` as OPA's bundle service credentials do; the file is read on each
// request, so a rotated token is used from the next poll. An empty or unreadable file fails the
// download (nothing is asked without the credential).
//
// Failure modes (logged on each change of state, counted by outcome): the server unreachable,
// an error status (401/403 included), a body over the size bound or cut short: the bundle serving keeps serving;
// with none at all every call is denied (policy_unavailable) until a download succeeds.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Log } from "../../../common/service.ts";
import { isBearerToken } from "../lib/bearer.ts";
import { errorKind } from "../../../common/error-codes.ts";

export type DownloadOutcome = "updated" | "unchanged" | "failed";

export interface BundleDownloaderOptions {
  url: URL;
  /** Where a downloaded bundle is written for the reloader to load. */
  cachePath: string;
  /** How often the server is asked (default 10 s). */
  pollMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Largest accepted bundle (default 64 MiB). */
  maxBytes?: number;
  /** A file holding the bearer token the server wants (read on every request). */
  tokenFile?: string | undefined;
  log: Log;
  onOutcome?: (outcome: DownloadOutcome) => void;
  fetch?: typeof fetch;
}

export interface BundleDownloader {
  /** Asks the server once; "updated" when a new bundle was written to the cache. */
  download(): Promise<DownloadOutcome>;
  /** Polls; `updated` is called (awaited) after each new bundle is written. */
  start(updated: () => Promise<void>): void;
  /** The ETag of the bundle last written, if any. */
  etag(): string | undefined;
  /** For /readyz: the server, the ETag last written, and how the last request went. */
  status(): BundleServerStatus;
  close(): void;
}

export interface BundleServerStatus {
  url: string;
  etag: string | null;
  last_outcome: DownloadOutcome | null;
  last_at: string | null;
  /** The last error, while the server keeps failing. */
  error: string | null;
}

class DownloadError extends Error {}

async function readBounded(response: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes)
    throw new DownloadError(`bundle of ${String(declared)} bytes is over the bound`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body === null) throw new DownloadError("bundle response has no body");
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    size += chunk.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new DownloadError(`bundle over ${String(maxBytes)} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function bearerFrom(file: string | undefined): Promise<Record<string, string>> {
  if (file === undefined) return {};
  let token: string;
  try {
    token = (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new DownloadError(`bundle server token file unreadable (${errorKind(error)})`);
  }
  if (token === "") throw new DownloadError(`bundle server token file ${file} is empty`);
  // RFC 6750's token68 (lib/bearer.ts): refused here, never quoted by fetch.
  if (!isBearerToken(token)) {
    throw new DownloadError(`bundle server token file ${file} does not hold one bearer token`);
  }
  return { authorization: `Bearer ${token}` };
}

async function writeAtomically(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const aside = `${path}.${String(process.pid)}.${String(Date.now())}.tmp`;
  await writeFile(aside, bytes, { mode: 0o644 });
  await rename(aside, path);
}

export function createBundleDownloader(options: BundleDownloaderOptions): BundleDownloader {
  if (!/^https?:$/.test(options.url.protocol))
    throw new TypeError("POLICY_BUNDLE_URL must be http(s)");
  const pollMs = options.pollMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const { log, url, cachePath } = options;
  // What logs and /readyz show of the server: never user info or a query (a signed URL's).
  const shown = `${url.origin}${url.pathname}`;
  let etag: string | undefined;
  let failing = false;
  let last: { outcome: DownloadOutcome; at: string; error: string | null } | undefined;
  let timer: NodeJS.Timeout | undefined;

  const ask = async (): Promise<Exclude<DownloadOutcome, "failed">> => {
    const bearer = await bearerFrom(options.tokenFile);
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(url, {
        headers: {
          accept: "application/gzip",
          ...bearer,
          ...(etag === undefined ? {} : { "if-none-match": etag }),
        },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      // The error's name and code only: its message may quote the request (headers included).
      throw new DownloadError(`bundle server unreachable (${errorKind(error)})`);
    }
    if (response.status === 304) {
      await response.body?.cancel();
      return "unchanged";
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new DownloadError(`bundle server answered ${String(response.status)}`);
    }
    const bytes = await readBounded(response, maxBytes);
    await writeAtomically(cachePath, bytes);
    etag = response.headers.get("etag") ?? undefined;
    log("info", "policy bundle downloaded", {
      url: shown,
      etag: etag ?? null,
      bytes: bytes.length,
    });
    return "updated";
  };

  const download = async (): Promise<DownloadOutcome> => {
    let outcome: DownloadOutcome;
    let failure: string | null = null;
    try {
      outcome = await ask();
      if (failing) log("info", "policy bundle server reachable again", { url: shown });
      failing = false;
    } catch (error) {
      // Our own messages, or an error's code or name: nothing that could quote a credential.
      failure =
        error instanceof DownloadError
          ? error.message
          : `bundle download failed (${errorKind(error)})`;
      if (!failing) {
        log("error", "policy bundle download failed: the bundle serving keeps serving", {
          url: shown,
          error: failure,
        });
      }
      failing = true;
      outcome = "failed";
    }
    last = { outcome, at: new Date().toISOString(), error: failure };
    try {
      options.onOutcome?.(outcome);
    } catch {
      // a metric never changes the policy
    }
    return outcome;
  };

  return {
    download,
    start(updated) {
      if (timer !== undefined) return;
      let busy = false;
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void download()
          .then((outcome) => (outcome === "updated" ? updated() : undefined))
          .catch(() => undefined) // the reloader logs its own failures
          .finally(() => {
            busy = false;
          });
      }, pollMs);
      timer.unref();
    },
    etag: () => etag,
    status: () => ({
      url: shown,
      etag: etag ?? null,
      last_outcome: last?.outcome ?? null,
      last_at: last?.at ?? null,
      error: last?.error ?? null,
    }),
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
