// Keys of the local development identity provider, device-trust service and gateway: one ES256
// key pair per signer under <stateDir>/keys/, created on first use and kept afterwards.
// Development only: production keys live with the real identity provider and device-trust service.
// Also the development policy-bundle signing key (PEM, for `opa build --signing-key`): created by
// `make policy` when absent, never replaced, never committed (.state/ is git-ignored).
import { createPrivateKey, createPublicKey, randomUUID } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
} from "jose";

/** Issuer of the development access tokens. */
export const DEV_ISSUER = "zyx-dev-idp";
/** Issuer of the development posture tokens. */
export const DEV_POSTURE_ISSUER = "zyx-dev-device-trust";
/** The gateway's identifier: the audience of access and posture tokens. */
export const GATEWAY_AUDIENCE = "zyx-agent-gateway";
/**
 * The engineer-facing audience: the change-review agent runtime. An engineer's own token (no
 * "act") is issued for it; the runtime exchanges it (RFC 8693) for a gateway token naming it.
 */
export const CHANGE_REVIEW_AUDIENCE = "zyx-change-review";
/** Where development keys and state live, relative to the working directory. */
export const DEFAULT_STATE_DIR = ".state";
export const DEV_KEY_ALG = "ES256";

/** idp signs access tokens, device-trust posture tokens, gateway the call tokens for the worker. */
export const DEV_SIGNERS = ["idp", "device-trust", "gateway"] as const;
export type DevSigner = (typeof DEV_SIGNERS)[number];

export interface DevKeyFiles {
  /** The private JWK (with kid and alg), mode 0600. */
  privateJwk: string;
  /** The public JWKS, holding the one public key. */
  jwks: string;
}

export interface DevKeyPaths {
  keysDir: string;
  signers: Record<DevSigner, DevKeyFiles>;
}

/** The state directory: $ZYX_STATE_DIR when set, else ".state". */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env["ZYX_STATE_DIR"];
  return fromEnv === undefined || fromEnv === "" ? DEFAULT_STATE_DIR : fromEnv;
}

/** Where the key files of each signer are (whether or not they exist yet). */
export function devKeyPaths(stateDir: string): DevKeyPaths {
  const keysDir = join(stateDir, "keys");
  const files = (name: DevSigner): DevKeyFiles => ({
    privateJwk: join(keysDir, `${name}.private.jwk.json`),
    jwks: join(keysDir, `${name}.jwks.json`),
  });
  return {
    keysDir,
    signers: {
      idp: files("idp"),
      "device-trust": files("device-trust"),
      gateway: files("gateway"),
    },
  };
}

/**
 * Creates the key pairs that do not exist yet and (re)writes each public JWKS from its private
 * key. Idempotent, and safe when several processes run it at once: a private key file is
 * published with link(2), which never replaces an existing one.
 */
export async function ensureDevKeys(stateDir: string): Promise<DevKeyPaths> {
  const paths = devKeyPaths(stateDir);
  await mkdir(paths.keysDir, { recursive: true, mode: 0o700 });
  for (const name of DEV_SIGNERS) {
    const files = paths.signers[name];
    if (!(await exists(files.privateJwk))) await publishNewKey(files.privateJwk, SIGNER_ALG[name]);
    await chmod(files.privateJwk, 0o600);
    const jwks: JSONWebKeySet = { keys: [publicJwk(await readPrivateJwk(files.privateJwk))] };
    await writeAtomically(files.jwks, `${JSON.stringify(jwks, null, 2)}\n`, 0o644);
  }
  return paths;
}

/** Reads a private JWK written by ensureDevKeys; throws when it is not one. */
export async function readPrivateJwk(path: string): Promise<JWK> {
  const jwk = JSON.parse(await readFile(path, "utf8")) as unknown;
  if (
    typeof jwk !== "object" ||
    jwk === null ||
    !("d" in jwk) ||
    !("kid" in jwk) ||
    !("alg" in jwk) ||
    typeof jwk.kid !== "string" ||
    typeof jwk.alg !== "string"
  ) {
    throw new Error(`${path} is not a private JWK with "kid" and "alg"`);
  }
  return jwk as JWK;
}

const PRIVATE_MEMBERS: ReadonlySet<string> = new Set(["d", "p", "q", "dp", "dq", "qi", "oth", "k"]);

/** The public half of a private JWK, with its kid, alg and use. */
export function publicJwk(privateJwk: JWK): JWK {
  const members = Object.entries(privateJwk).filter(([name]) => !PRIVATE_MEMBERS.has(name));
  return { ...(Object.fromEntries(members) as JWK), use: "sig" };
}

/** A new private JWK (ES256 unless told otherwise) whose kid is its RFC 7638 thumbprint. */
export async function generateDevKey(alg: "ES256" | "EdDSA" = DEV_KEY_ALG): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  return { ...jwk, kid, alg, use: "sig" };
}

/**
 * The gateway signs a call token on every hand-off: Ed25519, about three times cheaper to sign
 * than P-256 here (make bench). The identity provider and device-trust keys stay ES256, the
 * algorithm most enterprise identity providers offer.
 */
const SIGNER_ALG: Record<DevSigner, "ES256" | "EdDSA"> = {
  idp: DEV_KEY_ALG,
  "device-trust": DEV_KEY_ALG,
  gateway: "EdDSA",
};

async function publishNewKey(path: string, alg: "ES256" | "EdDSA"): Promise<void> {
  const jwk = await generateDevKey(alg);
  await publishNewFile(path, `${JSON.stringify(jwk, null, 2)}\n`);
}

/** Writes a private file (0600) under `path` unless one is already there: link(2) never replaces. */
async function publishNewFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, text, { mode: 0o600, flag: "wx" });
  try {
    await chmod(temporary, 0o600);
    await link(temporary, path);
  } catch (error) {
    // Another process published its key first: keep that one.
    if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error;
  } finally {
    await unlink(temporary);
  }
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, text, { mode, flag: "wx" });
  await rename(temporary, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return false;
    throw error;
  }
}

/** The policy bundle's signing algorithm: ES256, which `opa build --signing-alg` documents. */
export const POLICY_BUNDLE_ALG = "ES256";

export interface PolicySigningKeyFiles {
  /** PKCS#8 PEM, mode 0600: what `opa build --signing-key` reads. */
  privatePem: string;
  /** SPKI PEM: what the gateway verifies `.signatures.json` with (POLICY_BUNDLE_PUBLIC_KEY). */
  publicPem: string;
}

/**
 * Where the development policy-bundle signing key lives. It is the builder's key (`make
 * policy` signs with it), so it is under the checkout's .state/keys/, whatever ZYX_STATE_DIR a
 * gateway runs with.
 */
export function policySigningKeyPaths(stateDir: string = DEFAULT_STATE_DIR): PolicySigningKeyFiles {
  const keysDir = join(stateDir, "keys");
  return {
    privatePem: join(keysDir, "policy-bundle.private.pem"),
    publicPem: join(keysDir, "policy-bundle.public.pem"),
  };
}

/**
 * Creates the development bundle signing key pair when absent (never replaces one; safe when
 * several processes run it at once), and (re)writes its public PEM from the private one.
 */
export async function ensurePolicySigningKey(
  stateDir: string = DEFAULT_STATE_DIR,
): Promise<PolicySigningKeyFiles> {
  const files = policySigningKeyPaths(stateDir);
  await mkdir(join(stateDir, "keys"), { recursive: true, mode: 0o700 });
  if (!(await exists(files.privatePem))) {
    const { privateKey } = await generateKeyPair(POLICY_BUNDLE_ALG, { extractable: true });
    await publishNewFile(files.privatePem, await exportPKCS8(privateKey));
  }
  await chmod(files.privatePem, 0o600);
  const privateKey = createPrivateKey(await readFile(files.privatePem, "utf8"));
  const publicPem = await exportSPKI(createPublicKey(privateKey));
  await writeAtomically(
    files.publicPem,
    publicPem.endsWith("\n") ? publicPem : `${publicPem}\n`,
    0o644,
  );
  return files;
}
