// POLICY_BUNDLE_URL against a local bundle server speaking OPA's bundle protocol (ETag,
// If-None-Match, 304): the bundle is downloaded and loaded through the same verification and
// last-good-revision rules as a file; a new one is live within 5 s; a tampered one is downloaded
// but refused while the previous revision keeps serving; a server that fails changes nothing.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { buildPolicyVariant, type PolicyVariant } from "../../../scripts/lib/policy-variant.ts";
import { createBundleDownloader, type DownloadOutcome } from "../../src/policy/bundle-download.ts";
import { createReloadingPolicyEngine } from "../../src/policy/reloader.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { rewriteBundle } from "./signing.ts";

interface Served {
  status: number;
  etag?: string;
  bytes?: Buffer;
}

async function startBundleServer() {
  let served: Served = { status: 404 };
  let requiredToken: string | undefined;
  const asked: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    asked.push(request.headers);
    if (
      requiredToken !== undefined &&
      request.headers.authorization !== `Bearer ${requiredToken}`
    ) {
      response.writeHead(401).end();
      return;
    }
    const { status, etag, bytes } = served;
    if (status === 200 && etag !== undefined && request.headers["if-none-match"] === etag) {
      response.writeHead(304, { etag }).end();
      return;
    }
    if (status !== 200 || bytes === undefined) {
      response.writeHead(status).end();
      return;
    }
    response
      .writeHead(200, {
        "content-type": "application/gzip",
        "content-length": String(bytes.length),
        ...(etag === undefined ? {} : { etag }),
      })
      .end(bytes);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${String(port)}/bundles/zyx/bundle.tar.gz`),
    asked,
    serve: (next: Served) => {
      served = next;
    },
    requireToken: (token: string | undefined) => {
      requiredToken = token;
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const bundleServer = await startBundleServer();
const variants: PolicyVariant[] = [];
const closers: (() => void)[] = [];
// Each test's downloaders and engines stop when it ends: a poller left running would ask the
// shared server during the next test, without its token (a flake once: the last request seen
// was the poller's).
afterEach(() => {
  for (const close of closers.splice(0)) close();
});
afterAll(() => {
  bundleServer.close();
  for (const variant of variants) variant.remove();
});

describe("policy bundle from a bundle server (POLICY_BUNDLE_URL)", () => {
  it("downloads with ETag / If-None-Match, hot-reloads a new bundle, refuses a tampered one", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "zyx-bundle-server-"));
    const outcomes: DownloadOutcome[] = [];
    const downloader = createBundleDownloader({
      url: bundleServer.url,
      cachePath: join(tmp, "cache", "bundle.tar.gz"),
      pollMs: 100,
      log: () => undefined,
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    closers.push(() => {
      downloader.close();
    });

    // Boot: nothing served yet, then the signed bundle.
    expect(await downloader.download()).toBe("failed");
    bundleServer.serve({ status: 200, etag: '"rev-1"', bytes: readFileSync(BUNDLE_PATH) });
    expect(await downloader.download()).toBe("updated");
    expect(bundleServer.asked.at(-1)?.["if-none-match"]).toBeUndefined();
    const engine = await createReloadingPolicyEngine({
      bundlePath: join(tmp, "cache", "bundle.tar.gz"),
      pollMs: 60_000,
    });
    closers.push(() => {
      engine.close();
    });
    expect(engine.loadError).toBeNull();
    const first = engine.revision;
    expect(first).toMatch(/^[0-9a-f]{16}$/);

    // Unchanged: the server answers 304 to the ETag it gave.
    expect(await downloader.download()).toBe("unchanged");
    expect(bundleServer.asked.at(-1)?.["if-none-match"]).toBe('"rev-1"');
    expect(downloader.etag()).toBe('"rev-1"');

    // A rebuilt bundle: live within 5 s, through the poll.
    const variant = buildPolicyVariant((config) => {
      config["bundle_server_marker"] = "v2";
    });
    variants.push(variant);
    downloader.start(() => engine.check());
    const published = performance.now();
    bundleServer.serve({ status: 200, etag: '"rev-2"', bytes: readFileSync(variant.bundle) });
    await vi.waitFor(
      () => {
        expect(engine.revision).not.toBe(first);
      },
      { timeout: 5_000, interval: 20 },
    );
    const tookMs = performance.now() - published;
    const second = engine.revision;
    console.warn(
      `policy reload from the bundle server: live ${tookMs.toFixed(0)} ms after publishing`,
    );

    // A tampered bundle: downloaded, refused, the previous revision keeps serving.
    const tampered = await rewriteBundle(variant.bundle, join(tmp, "tampered.tar.gz"), (files) => {
      const data = files.get("data.json")?.toString() ?? "";
      files.set("data.json", Buffer.from(data.replace("grp-ai-devops-readonly", "grp-ai-users")));
      return files;
    });
    bundleServer.serve({ status: 200, etag: '"rev-3"', bytes: readFileSync(tampered) });
    await vi.waitFor(
      () => {
        expect(engine.status().refused).toBeDefined();
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(engine.revision).toBe(second);
    expect(engine.loadError).toBeNull();
    expect(engine.status().refused?.code).toBe("policy_bundle_signature_invalid");

    // The server fails: nothing changes.
    bundleServer.serve({ status: 503 });
    await vi.waitFor(() => {
      expect(outcomes.at(-1)).toBe("failed");
    });
    expect(engine.revision).toBe(second);
    expect(outcomes).toContain("unchanged");
  });

  it("refuses a bundle over the size bound and keeps the cache as it was", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "zyx-bundle-server-"));
    bundleServer.serve({ status: 200, etag: '"big"', bytes: Buffer.alloc(4_096) });
    const downloader = createBundleDownloader({
      url: bundleServer.url,
      cachePath: join(tmp, "bundle.tar.gz"),
      maxBytes: 1_024,
      log: () => undefined,
    });
    expect(await downloader.download()).toBe("failed");
    expect(downloader.etag()).toBeUndefined();
    expect(() => readFileSync(join(tmp, "bundle.tar.gz"))).toThrow();
  });

  it("sends the bearer token from POLICY_BUNDLE_TOKEN_FILE, read again on every request", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "zyx-bundle-server-"));
    const tokenFile = join(tmp, "bundle-token");
    bundleServer.serve({ status: 200, etag: '"t1"', bytes: readFileSync(BUNDLE_PATH) });
    bundleServer.requireToken("first-token-0123456789");
    closers.push(() => {
      bundleServer.requireToken(undefined);
    });
    const options = { url: bundleServer.url, log: () => undefined };
    // No credential: refused by the server, nothing written.
    const anonymous = createBundleDownloader({ ...options, cachePath: join(tmp, "a.tar.gz") });
    expect(await anonymous.download()).toBe("failed");
    expect(() => readFileSync(join(tmp, "a.tar.gz"))).toThrow();
    // An empty token file: nothing is asked at all.
    writeFileSync(tokenFile, "\n");
    const asked = bundleServer.asked.length;
    const withToken = createBundleDownloader({
      ...options,
      cachePath: join(tmp, "b.tar.gz"),
      tokenFile,
    });
    expect(await withToken.download()).toBe("failed");
    expect(bundleServer.asked.length).toBe(asked);
    // The token: downloaded, the header as OPA's bundle service sends it.
    writeFileSync(tokenFile, "first-token-0123456789\n");
    expect(await withToken.download()).toBe("updated");
    expect(bundleServer.asked.at(-1)?.authorization).toBe("Bearer first-token-0123456789");
    // Rotated on both sides: the next request uses the new token, no restart.
    bundleServer.requireToken("second-token-0123456789");
    expect(await withToken.download()).toBe("failed");
    writeFileSync(tokenFile, "second-token-0123456789");
    expect(await withToken.download()).toBe("unchanged");
    expect(bundleServer.asked.at(-1)?.authorization).toBe("Bearer second-token-0123456789");
  });

  it("never shows the token, a URL's user info or its query in /readyz's status or the logs", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "zyx-bundle-server-"));
    const tokenFile = join(tmp, "bundle-token");
    writeFileSync(tokenFile, "secret-part-one\nsecret-part-two");
    const logged: unknown[] = [];
    const url = new URL(bundleServer.url);
    url.username = "svc";
    url.password = "hunter2-password";
    url.search = "?X-Amz-Signature=deadbeefsignature";
    const downloader = createBundleDownloader({
      url,
      cachePath: join(tmp, "b.tar.gz"),
      tokenFile,
      log: (...args: unknown[]) => logged.push(args),
    });
    expect(await downloader.download()).toBe("failed");
    const shown = JSON.stringify([downloader.status(), logged]);
    expect(downloader.status()).toMatchObject({
      url: `${bundleServer.url.origin}${bundleServer.url.pathname}`,
      last_outcome: "failed",
      error: expect.stringContaining("does not hold one bearer token") as unknown,
    });
    for (const secret of ["secret-part", "hunter2", "deadbeefsignature", "svc:"]) {
      expect(shown).not.toContain(secret);
    }
  });
});
