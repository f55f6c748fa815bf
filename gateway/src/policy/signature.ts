// Verifies a policy bundle's signature the way OPA does (`opa build --signing-key`), with jose,
// before anything in the bundle is parsed or compiled.
//
// Invariants: `.signatures.json` holds exactly one compact JWS, verified against the configured
// public key only (its algorithm fixed by the key: ES256 for P-256, EdDSA for Ed25519; never
// the header's choice, never "none"); the signed file list names every file of the bundle
// exactly once (no extra file, no missing file); each file's SHA-256 matches. Structured files
// (data.json, .manifest) are hashed as OPA hashes them: parsed, object keys sorted, re-encoded.
//
// Failure modes, each a PolicyError (the bundle is refused, nothing of it is used):
// policy_key_missing (no readable public key), policy_bundle_unsigned (no .signatures.json),
// policy_bundle_signature_invalid (bad JWS, other key, wrong digest, extra or missing file).
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { compactVerify } from "jose";
import { z } from "zod";
import { PolicyError, describeThrown } from "./errors.ts";

export const SIGNATURES_FILE = ".signatures.json";

/** A public key that bundle signatures are checked against. */
export interface BundleKey {
  readonly key: KeyObject;
  readonly alg: "ES256" | "EdDSA";
}

const Signatures = z.strictObject({
  signatures: z.array(z.string().min(1)).length(1),
  plugin: z.literal("_default").optional(),
});

const SignedFiles = z.looseObject({
  files: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        hash: z.string().regex(/^[0-9a-f]{64}$/),
        algorithm: z.literal("SHA-256"),
      }),
    )
    .min(1),
});

/** Reads a PEM (SPKI) public key; only P-256 (ES256) and Ed25519 (EdDSA) keys are accepted. */
export async function readBundleKey(path: string): Promise<BundleKey> {
  let key: KeyObject;
  try {
    key = createPublicKey(await readFile(path, "utf8"));
  } catch (thrown) {
    throw new PolicyError(
      "policy_key_missing",
      `cannot read the bundle verification key ${path}: ${describeThrown(thrown)}`,
      { cause: thrown },
    );
  }
  if (key.asymmetricKeyType === "ed25519") return { key, alg: "EdDSA" };
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") {
    return { key, alg: "ES256" };
  }
  throw new PolicyError(
    "policy_key_missing",
    `${path}: a P-256 or Ed25519 public key is required, not ${key.asymmetricKeyType ?? "unknown"}`,
  );
}

/** OPA's digest of one bundle file: raw bytes, or canonical JSON for data.json and .manifest. */
export function bundleFileDigest(name: string, bytes: Buffer): string {
  const base = posix.basename(name);
  const structured = base === "data.json" || base === ".manifest";
  const hashed = structured
    ? Buffer.from(canonicalJson(JSON.parse(bytes.toString("utf8"))))
    : bytes;
  return createHash("sha256").update(hashed).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const members = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}

function invalid(message: string, cause?: unknown): PolicyError {
  return new PolicyError(
    "policy_bundle_signature_invalid",
    message,
    cause === undefined ? undefined : { cause },
  );
}

async function signedFileList(jws: string, key: BundleKey): Promise<z.infer<typeof SignedFiles>> {
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key.key, { algorithms: [key.alg] }));
  } catch (thrown) {
    throw invalid(
      `the signature does not verify with the configured key: ${describeThrown(thrown)}`,
      thrown,
    );
  }
  try {
    return SignedFiles.parse(JSON.parse(new TextDecoder().decode(payload)));
  } catch (thrown) {
    throw invalid(`the signed payload is not a file list: ${describeThrown(thrown)}`, thrown);
  }
}

/** Throws unless the bundle's files are exactly the signed ones, each with its signed digest. */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Buffer>,
  key: BundleKey,
): Promise<void> {
  const signaturesJson = files.get(SIGNATURES_FILE);
  if (signaturesJson === undefined) {
    throw new PolicyError("policy_bundle_unsigned", `the bundle has no ${SIGNATURES_FILE}`);
  }
  let jws: string;
  try {
    [jws = ""] = Signatures.parse(JSON.parse(signaturesJson.toString("utf8"))).signatures;
  } catch (thrown) {
    throw invalid(`${SIGNATURES_FILE} is not one signature: ${describeThrown(thrown)}`, thrown);
  }
  const signed = await signedFileList(jws, key);
  const expected = new Map<string, string>();
  for (const file of signed.files) {
    if (expected.has(file.name)) throw invalid(`${file.name} is signed twice`);
    expected.set(file.name, file.hash);
  }
  const present = [...files.keys()].filter((name) => name !== SIGNATURES_FILE);
  const extra = present.filter((name) => !expected.has(name));
  const missing = [...expected.keys()].filter((name) => !files.has(name));
  if (extra.length > 0) throw invalid(`unsigned file(s) in the bundle: ${extra.join(", ")}`);
  if (missing.length > 0)
    throw invalid(`signed file(s) missing from the bundle: ${missing.join(", ")}`);
  for (const name of present) {
    let digest: string;
    try {
      digest = bundleFileDigest(name, files.get(name) ?? Buffer.alloc(0));
    } catch (thrown) {
      throw invalid(`${name} cannot be hashed: ${describeThrown(thrown)}`, thrown);
    }
    if (digest !== expected.get(name)) throw invalid(`${name} does not match its signed digest`);
  }
}
