// A review found Kubernetes Secret manifests passing the output guard: a Secret keeps its values
// base64-encoded under `data:` (plain under `stringData:`), each under a key that names nothing
// secret (`dbpw`, `config.json`, `tls.crt`), so no assignment rule sees them. `kubectl get
// secret -o yaml|json`, a Helm chart in a pull request, an operator's log: every value under a
// Secret's data or stringData is masked (keys kept), in YAML and JSON text and in parsed objects;
// a ConfigMap's data stays readable.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const ENCODED = Buffer.from("Vq7tLm2xRb9wKp4e").toString("base64");
const PLAIN = "Jx4pQ8rT1wZ6";

const YAML = `apiVersion: v1
kind: Secret
metadata:
  name: ledger-db
  namespace: payments
type: Opaque
data:
  dbpw: ${ENCODED}
  user: c3ZjLWxlZGdlcg==
stringData:
  conn: "host=db user=svc pass=${PLAIN}"
  settings.yaml: |
    endpoint: db.internal
    key: ${PLAIN}
`;

describe("Kubernetes Secret manifests", () => {
  it.each([
    ["YAML, kind first", YAML],
    [
      "YAML as kubectl prints it (data before kind)",
      `apiVersion: v1\ndata:\n  dbpw: ${ENCODED}\n  extra: "${PLAIN}"\nkind: Secret\nmetadata:\n  name: x\n`,
    ],
    [
      "YAML in a diff",
      ` apiVersion: v1\n kind: Secret\n data:\n-  dbpw: c3RhbGU=\n+  dbpw: ${ENCODED}\n+  other: ${PLAIN}\n`,
    ],
    [
      "the second document of a stream",
      `kind: ConfigMap\ndata:\n  mode: fast\n---\nkind: Secret\nstringData:\n  token: ${PLAIN}\n  dbpw: ${ENCODED}\n`,
    ],
    [
      "JSON text, pretty-printed",
      JSON.stringify(
        { apiVersion: "v1", kind: "Secret", data: { dbpw: ENCODED, x: PLAIN } },
        null,
        2,
      ),
    ],
    [
      "JSON text on one line",
      JSON.stringify({ kind: "Secret", stringData: { dbpw: ENCODED, x: PLAIN } }),
    ],
  ])("masks the values of %s", (_name, text) => {
    const result = guardOutput({ text });
    const out = JSON.stringify(result.value);
    expect(out).not.toContain(ENCODED);
    expect(out).not.toContain(PLAIN);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("masks a parsed Secret object, keys kept", () => {
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ledger-db" },
      data: { dbpw: ENCODED },
      stringData: { conn: PLAIN },
    };
    const result = guardOutput({ items: [secret] });
    expect(result.value).toEqual({
      items: [
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "ledger-db" },
          data: { dbpw: "[REDACTED:secret_field]" },
          stringData: { conn: "[REDACTED:secret_field]" },
        },
      ],
    });
    expect(result.redactions).toBe(2);
  });

  it("keeps the manifest readable", () => {
    const text = `kind: Secret\nmetadata:\n  name: x\ndata:\n  dbpw: ${ENCODED}\n  cfg: |\n    a: 1\n    b: 2\ntype: Opaque\n`;
    expect(guardOutput(text).value).toBe(
      "kind: Secret\nmetadata:\n  name: x\ndata:\n  dbpw: [REDACTED:secret]\n  cfg: |\n    [REDACTED:secret]\ntype: Opaque\n",
    );
  });

  it.each([
    ["a ConfigMap", `apiVersion: v1\nkind: ConfigMap\ndata:\n  mode: ${ENCODED}\n`],
    ["a ConfigMap as JSON", JSON.stringify({ kind: "ConfigMap", data: { mode: ENCODED } })],
    [
      "a Secret's metadata and a reference to it",
      "kind: Secret\nmetadata:\n  name: ledger-db\n  labels:\n    app: ledger\ntype: Opaque\n",
    ],
    [
      "a Helm template's values",
      "kind: Secret\ndata:\n  dbpw: {{ .Values.db.password | b64enc }}\n",
    ],
    [
      "prose about secret data",
      "The Secret's data: field holds base64 values, see kind: Secret docs.",
    ],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("leaves a parsed ConfigMap alone", () => {
    const value = { kind: "ConfigMap", data: { mode: ENCODED } };
    expect(guardOutput(value)).toMatchObject({ value, redactions: 0 });
  });

  it.each([
    ["YAML data blocks", "kind: Secret\ndata:\n"],
    ["YAML keys", "kind: Secret\ndata:\n  a: b\n  c:\n"],
    ["JSON data objects", '"kind":"Secret","data":{"a":"'],
  ])("1 MB of %s takes linear time", (_name, unit) => {
    const text = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
