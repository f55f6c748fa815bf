// Signed bundles: the built bundle verifies; any alteration, a missing signature or another
// key's signature is refused before anything of the bundle is loaded, with a clear code.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicyEngine } from "../../src/policy/engine.ts";
import { readBundleKey, SIGNATURES_FILE } from "../../src/policy/signature.ts";
import { BUNDLE_PATH } from "../support/paths.ts";
import { devSigningKey, otherKey, rewriteBundle, signFiles } from "./signing.ts";

const tmp = mkdtempSync(join(tmpdir(), "zyx-signature-"));
const at = (name: string) => join(tmp, name);

async function refusal(bundlePath: string, publicKeyPath?: string) {
  let loaded = false;
  const engine = await loadPolicyEngine({
    bundlePath,
    ...(publicKeyPath === undefined ? {} : { publicKeyPath }),
    loader: () => {
      loaded = true;
      return Promise.reject(new Error("the WASM must not be loaded"));
    },
  });
  expect(loaded, "nothing of a refused bundle is loaded").toBe(false);
  expect(engine.revision).toBeUndefined();
  return engine.loadError;
}

describe("signed policy bundles", () => {
  it("loads the bundle that make policy signed", async () => {
    const engine = await loadPolicyEngine({ bundlePath: BUNDLE_PATH });
    expect(engine.loadError).toBeNull();
    expect(engine.revision).toMatch(/^[0-9a-f]{16}$/);
  });

  it("loads a bundle re-signed by the same key, and an Ed25519-signed one with its key", async () => {
    const key = await devSigningKey();
    const same = await rewriteBundle(BUNDLE_PATH, at("same.tar.gz"), (f) => signFiles(f, key));
    expect((await loadPolicyEngine({ bundlePath: same })).loadError).toBeNull();
    const ed = await otherKey("EdDSA");
    const edPath = await rewriteBundle(BUNDLE_PATH, at("ed.tar.gz"), (f) =>
      signFiles(f, ed.privateKey, "EdDSA"),
    );
    const engine = await loadPolicyEngine({ bundlePath: edPath, publicKeyPath: ed.publicKeyPath });
    expect(engine.loadError).toBeNull();
  });

  it("refuses a bundle without a signature", async () => {
    const path = await rewriteBundle(BUNDLE_PATH, at("unsigned.tar.gz"), (files) => {
      files.delete(SIGNATURES_FILE);
      return files;
    });
    expect(await refusal(path)).toMatchObject({
      code: "policy_bundle_unsigned",
      message: "the bundle has no .signatures.json",
    });
  });

  it("refuses a bundle signed by another key", async () => {
    const other = await otherKey();
    const path = await rewriteBundle(BUNDLE_PATH, at("other-key.tar.gz"), (f) =>
      signFiles(f, other.privateKey),
    );
    expect(await refusal(path)).toMatchObject({
      code: "policy_bundle_signature_invalid",
      message: expect.stringMatching(
        /^the signature does not verify with the configured key/,
      ) as unknown,
    });
    // ...which its own key would accept: the key, not the format, is what was refused.
    expect(
      (await loadPolicyEngine({ bundlePath: path, publicKeyPath: other.publicKeyPath })).loadError,
    ).toBeNull();
  });

  it.each([
    [
      "a changed data.json",
      "data.json",
      (b: Buffer) => Buffer.from(b.toString().replace("Applies reviewed", "Applies any")),
    ],
    ["a changed policy.wasm", "policy.wasm", (b: Buffer) => Buffer.concat([b, Buffer.from([0])])],
    [
      "a changed .manifest",
      ".manifest",
      (b: Buffer) => Buffer.from(b.toString().replace('"revision"', '"revision":"x","_"')),
    ],
  ])("refuses %s", async (_label, name, change) => {
    const path = await rewriteBundle(BUNDLE_PATH, at(`changed-${name}.tar.gz`), (files) => {
      const before = files.get(name);
      if (before === undefined) throw new Error(`no ${name}`);
      const after = change(before);
      expect(after.equals(before)).toBe(false);
      files.set(name, after);
      return files;
    });
    expect(await refusal(path)).toMatchObject({
      code: "policy_bundle_signature_invalid",
      message: `${name} does not match its signed digest`,
    });
  });

  it("refuses an extra file and a missing file", async () => {
    const extra = await rewriteBundle(BUNDLE_PATH, at("extra.tar.gz"), (files) => {
      files.set("zyx/extra/data.json", Buffer.from('{"allow": true}'));
      return files;
    });
    expect(await refusal(extra)).toMatchObject({
      code: "policy_bundle_signature_invalid",
      message: "unsigned file(s) in the bundle: zyx/extra/data.json",
    });
    const missing = await rewriteBundle(BUNDLE_PATH, at("missing.tar.gz"), (files) => {
      files.delete("zyx/gateway/decision.rego");
      return files;
    });
    expect(await refusal(missing)).toMatchObject({
      code: "policy_bundle_signature_invalid",
      message: "signed file(s) missing from the bundle: zyx/gateway/decision.rego",
    });
  });

  it("refuses everything when the verification key is absent or of the wrong kind", async () => {
    expect(await refusal(BUNDLE_PATH, at("absent.pem"))).toMatchObject({
      code: "policy_key_missing",
    });
    const { generateKeyPairSync } = await import("node:crypto");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    writeFileSync(at("rsa.pem"), rsa.export({ type: "spki", format: "pem" }));
    await expect(readBundleKey(at("rsa.pem"))).rejects.toMatchObject({
      code: "policy_key_missing",
    });
  });
});
