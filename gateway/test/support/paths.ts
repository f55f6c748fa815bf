import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dirname, "../../..");
/** Built by `make policy` (which `make test` runs first). */
export const BUNDLE_PATH = resolve(REPO_ROOT, "policy-bundle/bundle.tar.gz");
export const GOLDEN_PATH = resolve(REPO_ROOT, "rego/zyx/golden/data.json");
