// A review found secrets passing the output guard in the commonest place a pull request puts
// them: a container's environment written as name/value pairs (a Kubernetes Deployment, an ECS
// task definition, a CloudFormation parameter list). The name says password; the value sits
// under "value", a word that names nothing.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PW = "Vq7tLm2xRb9wKp4e";

describe("secrets in name/value pairs", () => {
  it.each([
    [
      "a Kubernetes env entry in a diff",
      `@@ -20,6 +20,8 @@ spec:\n       containers:\n         - name: core\n           env:\n+            - name: DB_PASSWORD\n+              value: ${PW}\n+            - name: LOG_LEVEL\n+              value: info`,
    ],
    ["a quoted Kubernetes value", `- name: API_TOKEN\n  value: "${PW}"`],
    [
      "an ECS task definition",
      `"environment": [\n  { "name": "STRIPE_SECRET", "value": "${PW}" },\n  { "name": "REGION", "value": "eu-west-1" }\n]`,
    ],
    [
      "an ECS task definition, one member a line",
      `{\n  "name": "SLACK_BOT_TOKEN",\n  "value": "${PW}"\n}`,
    ],
    ["CloudFormation parameters", `- ParameterKey: DbPassword\n  ParameterValue: ${PW}`],
    ["a flow mapping", `env: [{name: REDIS_PASS, value: ${PW}}]`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ patch: text });
    expect(JSON.stringify(result.value)).not.toContain(PW);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the rest of the diff readable", () => {
    const text = `+            - name: DB_PASSWORD\n+              value: ${PW}\n+            - name: LOG_LEVEL\n+              value: info`;
    expect(guardOutput(text).value).toBe(
      "+            - name: DB_PASSWORD\n+              value: [REDACTED:password]\n+            - name: LOG_LEVEL\n+              value: info",
    );
  });

  it.each([
    [
      "a reference to a Kubernetes secret",
      "- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:\n      name: db\n      key: password",
    ],
    ["a variable", "- name: DB_PASSWORD\n  value: $(DB_PASSWORD)"],
    ["a Helm template", '- name: API_TOKEN\n  value: "{{ .Values.apiToken }}"'],
    [
      "a name that only ends near a secret word",
      "- name: DB_PASSWORD_FILE\n  value: /run/secrets/db",
    ],
    ["an ordinary variable", "- name: LOG_LEVEL\n  value: info"],
    [
      "a secret's ARN",
      '{ "name": "DB_SECRET_ARN", "value": "arn:aws:secretsmanager:eu-west-1:1:secret:x" }',
    ],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of name/value look-alikes takes linear time", () => {
    const text = "name: a_password\n value".repeat(50_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
