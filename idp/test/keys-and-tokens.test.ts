// The local development identity provider: its key files (created once, private keys 0600, kid =
// RFC 7638 thumbprint), its minted tokens, and the `token` command-line tool.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWK,
} from "jose";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_STATE_DIR,
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  DEV_SIGNERS,
  GATEWAY_AUDIENCE,
  ensureDevKeys,
  readPrivateJwk,
  resolveStateDir,
} from "../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../src/mint.ts";
import { createAccessTokenVerifier } from "../../gateway/src/identity/access-token.ts";
import { createPostureVerifier } from "../../gateway/src/identity/posture.ts";
import { REPO_ROOT } from "../../test/support/processes.ts";

const T0 = 1_779_242_400;
const run = promisify(execFile);
const tempDir = () => mkdtempSync(join(tmpdir(), "zyx-devidp-"));
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));

describe("ensureDevKeys", () => {
  it("creates a private JWK (0600) and a public JWKS per signer, kid = thumbprint", async () => {
    const paths = await ensureDevKeys(tempDir());
    expect(statSync(paths.keysDir).mode & 0o777).toBe(0o700);
    for (const name of DEV_SIGNERS) {
      const files = paths.signers[name];
      expect(files.privateJwk).toBe(join(paths.keysDir, `${name}.private.jwk.json`));
      expect(files.jwks).toBe(join(paths.keysDir, `${name}.jwks.json`));
      expect(statSync(files.privateJwk).mode & 0o777).toBe(0o600);
      const privateJwk = await readPrivateJwk(files.privateJwk);
      const [key, ...others] = (readJson(files.jwks) as JSONWebKeySet).keys;
      expect(others).toEqual([]);
      if (key === undefined) throw new Error(`${name}: empty JWKS`);
      const publicKey: JWK = key;
      expect(publicKey).not.toHaveProperty("d");
      // Tokens from the identity provider and device trust: ES256. Call tokens: Ed25519.
      const expected =
        name === "gateway"
          ? { kty: "OKP", crv: "Ed25519", alg: "EdDSA" }
          : { kty: "EC", crv: "P-256", alg: "ES256" };
      expect(privateJwk).toMatchObject(expected);
      expect(publicKey).toMatchObject({ kid: privateJwk.kid, alg: expected.alg, use: "sig" });
      expect(privateJwk.kid).toBe(await calculateJwkThumbprint(publicKey));
    }
    const kids = DEV_SIGNERS.map((name) => readJson(paths.signers[name].jwks));
    expect(new Set(kids.map((jwks) => JSON.stringify(jwks))).size).toBe(3);
  });

  it("is idempotent, also when run concurrently, and restores the private files' mode", async () => {
    const dir = tempDir();
    const [first, second] = await Promise.all([ensureDevKeys(dir), ensureDevKeys(dir)]);
    expect(second).toEqual(first);
    const snapshot = () =>
      DEV_SIGNERS.map((name) => [
        readFileSync(first.signers[name].privateJwk, "utf8"),
        readFileSync(first.signers[name].jwks, "utf8"),
      ]);
    const before = snapshot();
    // Both concurrent runs agree on one key per signer: each JWKS matches its private key.
    for (const name of DEV_SIGNERS) {
      const privateJwk = await readPrivateJwk(first.signers[name].privateJwk);
      expect((readJson(first.signers[name].jwks) as JSONWebKeySet).keys[0]?.x).toBe(privateJwk.x);
    }
    chmodSync(first.signers.idp.privateJwk, 0o644);
    await ensureDevKeys(dir);
    expect(snapshot()).toEqual(before);
    expect(statSync(first.signers.idp.privateJwk).mode & 0o777).toBe(0o600);
  });

  it("resolves the state directory from ZYX_STATE_DIR, else .state", () => {
    expect(DEFAULT_STATE_DIR).toBe(".state");
    expect(resolveStateDir({})).toBe(".state");
    expect(resolveStateDir({ ZYX_STATE_DIR: "" })).toBe(".state");
    expect(resolveStateDir({ ZYX_STATE_DIR: "/var/lib/zyx" })).toBe("/var/lib/zyx");
  });
});

describe("minting", () => {
  it("mints RFC 9068 access tokens with act, email only for e-mail users, jti, nbf", async () => {
    const paths = await ensureDevKeys(tempDir());
    const privateJwk = await readPrivateJwk(paths.signers.idp.privateJwk);
    const base = {
      privateJwk,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      groups: ["grp-ai-users"],
      ttlSec: 900,
      now: T0,
    };
    const token = await mintAccessToken({
      ...base,
      user: "engineer@zyxbank.example",
      agent: "change-reviewer",
      notBefore: T0 + 5,
    });
    expect(decodeProtectedHeader(token)).toEqual({
      alg: "ES256",
      kid: privateJwk.kid,
      typ: "at+jwt",
    });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: DEV_ISSUER,
      aud: GATEWAY_AUDIENCE,
      sub: "engineer@zyxbank.example",
      email: "engineer@zyxbank.example",
      groups: ["grp-ai-users"],
      act: { sub: "change-reviewer" },
      iat: T0,
      nbf: T0 + 5,
      exp: T0 + 900,
    });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    const service = decodeJwt(await mintAccessToken({ ...base, user: "svc-batch" }));
    expect(service).not.toHaveProperty("email");
    expect(service).not.toHaveProperty("act");
    expect(service.jti).not.toBe(claims.jti);
  });

  it("mints posture tokens that the posture verifier accepts", async () => {
    const paths = await ensureDevKeys(tempDir());
    const token = await mintPostureToken({
      privateJwk: await readPrivateJwk(paths.signers["device-trust"].privateJwk),
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: "engineer@zyxbank.example",
      compliant: false,
      checkedAt: T0 - 120,
      deviceId: "laptop-7731",
      ttlSec: 600,
      now: T0,
    });
    expect(decodeProtectedHeader(token).typ).toBe("posture+jwt");
    const verifier = createPostureVerifier({
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "file", path: paths.signers["device-trust"].jwks },
      now: () => T0,
    });
    expect(await verifier.verify(token, "engineer@zyxbank.example")).toStrictEqual({
      subject: "engineer@zyxbank.example",
      compliant: false,
      checkedAt: T0 - 120,
      deviceId: "laptop-7731",
    });
  });

  it("refuses a public key, a key without kid, and a non-positive ttl", async () => {
    const paths = await ensureDevKeys(tempDir());
    const privateJwk = await readPrivateJwk(paths.signers.idp.privateJwk);
    const [publicJwk] = (readJson(paths.signers.idp.jwks) as JSONWebKeySet).keys;
    const base = {
      privateJwk,
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: "u",
      groups: [],
      ttlSec: 900,
    };
    await expect(mintAccessToken({ ...base, privateJwk: publicJwk ?? {} })).rejects.toThrow(
      '"privateJwk" must be a private key',
    );
    const noKid = Object.fromEntries(Object.entries(privateJwk).filter(([name]) => name !== "kid"));
    await expect(mintAccessToken({ ...base, privateJwk: noKid })).rejects.toThrow(
      '"privateJwk" must have "kid" and "alg"',
    );
    await expect(mintAccessToken({ ...base, ttlSec: 0 })).rejects.toThrow(
      '"ttlSec" must be a positive integer',
    );
  });
});

describe("token CLI", () => {
  const cli = join(REPO_ROOT, "idp/src/cli/token.ts");

  it("prints one access token that the verifier accepts", async () => {
    const stateDir = tempDir();
    const { stdout, stderr } = await run(
      process.execPath,
      [
        cli,
        "access",
        "--user",
        "engineer@zyxbank.example",
        "--groups",
        "grp-ai-users,grp-ai-devops-readonly",
        "--agent",
        "change-reviewer",
        "--state-dir",
        stateDir,
      ],
      { cwd: REPO_ROOT },
    );
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const verifier = createAccessTokenVerifier({
      issuer: DEV_ISSUER,
      audience: GATEWAY_AUDIENCE,
      keys: { kind: "file", path: join(stateDir, "keys/idp.jwks.json") },
    });
    const principal = await verifier.verify(stdout.trim());
    expect(principal).toMatchObject({
      subject: "engineer@zyxbank.example",
      email: "engineer@zyxbank.example",
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      agent: "change-reviewer",
    });
    expect(principal.expiresAt - Date.now() / 1000).toBeGreaterThan(800);
  });

  it("exits 2 with a message on stderr on bad usage", async () => {
    const failed = await run(process.execPath, [cli, "access", "--user", "u"], {
      cwd: REPO_ROOT,
    }).catch((error: unknown) => error as { code: number; stdout: string; stderr: string });
    expect(failed).toMatchObject({ code: 2, stdout: "" });
    expect((failed as { stderr: string }).stderr).toMatch(
      /^--agent <id> is required \(or --no-agent for a token without act\)\nusage:/,
    );
  });
});
