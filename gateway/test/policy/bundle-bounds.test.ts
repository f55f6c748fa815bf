// A bundle is inflated before its signature can be checked, so whoever serves it (a bundle
// server, a man in the middle of a plain-http URL, a cache file left behind) controls how much
// it inflates to: the reader bounds the whole bundle, not only each file, and stops at the bound.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { describe, expect, it } from "vitest";
import { readTarGz } from "../../src/policy/bundle.ts";
import { loadPolicyEngine } from "../../src/policy/engine.ts";

/** What readTarGz rejected with, as text ("resolved" if it did not: never the files themselves). */
async function refusal(bytes: Buffer): Promise<string> {
  return readTarGz(bytes).then(
    () => "resolved",
    (thrown: unknown) => String(thrown),
  );
}

const tmp = mkdtempSync(join(tmpdir(), "zyx-bundle-bounds-"));

/**
 * A gzip'd tarball of `count` regular files of `size` bytes each, zeros but for a random start
 * (256 KiB) that keeps the whole under node-tar's own bound on the ratio (1000:1), as a bomb
 * that means it would: a 64 MiB download may still inflate to tens of GiB.
 */
function zeroTarGz(count: number, size: number): Buffer {
  const blocks: Buffer[] = [];
  const body = Buffer.alloc(Math.ceil(size / 512) * 512);
  randomBytes(Math.min(size, 256 * 1024)).copy(body);
  for (let i = 0; i < count; i++) {
    const header = new Header({ path: `f${String(i)}`, size, type: "File", mode: 0o644 });
    header.encode();
    blocks.push(header.block ?? Buffer.alloc(0), body);
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

describe("bundle size bounds (decompression bombs)", () => {
  it("refuses a bundle whose files together inflate past the bound, each under the per-file one", async () => {
    const bomb = zeroTarGz(3, 30 * 1024 * 1024); // 90 MiB inflated, about 1 MiB on the wire
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    expect(await refusal(bomb)).toMatch(/inflates past \d+ bytes/);
    const path = join(tmp, "bomb.tar.gz");
    writeFileSync(path, bomb);
    const engine = await loadPolicyEngine({ bundlePath: path });
    expect(engine.loadError).toMatchObject({
      code: "policy_bundle_corrupt",
      message: expect.stringMatching(/inflates past \d+ bytes/) as unknown,
    });
  });

  it("refuses a bundle of more files than a policy bundle has", async () => {
    expect(await refusal(zeroTarGz(5_000, 0))).toMatch(/more than \d+ files/);
  });
});
