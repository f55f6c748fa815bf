// A review found curl's -u credentials passing the output guard when the command is written the
// way runbooks write it: one option a line, each line ending in a backslash. The curl rule looked
// for -u on the curl command's own line only. Also -u glued to its value (`-usvc:pass`), which
// curl accepts as getopt does.
import { describe, expect, it } from "vitest";
import { guardOutput } from "../../src/guard/output-guard.ts";

const PW = "Vq7tLm2xRb9wKp4e";

describe("curl -u over continued lines", () => {
  it.each([
    [
      "a runbook's multi-line curl",
      `To re-run the import:\n\ncurl -sS -X POST \\\n  -H 'Content-Type: application/json' \\\n  -u svc-import:${PW} \\\n  https://jira.zyxbank.example/rest/api/2/issue`,
    ],
    [
      "the same with CRLF line ends",
      `curl -sS -X POST \\\r\n  --user "svc-import:${PW}" \\\r\n  https://jira.zyxbank.example/`,
    ],
    [
      "in a shell script added in a diff",
      `+curl --fail \\\n+  --user svc-import:${PW} \\\n+  https://artifactory.zyxbank.example/api/x`,
    ],
    ["-u glued to its value", `curl -usvc-import:${PW} https://jira.zyxbank.example/`],
  ])("masks %s", (_name, text) => {
    const result = guardOutput({ body: text });
    expect(JSON.stringify(result.value)).not.toContain(PW);
    expect(result.redactions).toBeGreaterThan(0);
  });

  it("keeps the command readable", () => {
    expect(guardOutput(`curl -X POST \\\n  -u svc:${PW} \\\n  https://x.example`).value).toBe(
      "curl -X POST \\\n  -u svc:[REDACTED:http_auth] \\\n  https://x.example",
    );
  });

  it.each([
    ["a -u on the next command", "curl https://x.example/health\ndocker run -u 1000:1000 img"],
    ["a variable", 'curl \\\n  -u "$JIRA_USER:$JIRA_TOKEN" \\\n  https://x.example'],
    ["curl's upload flag", "curl --upload-file a:b https://x.example"],
  ])("leaves %s alone", (_name, text) => {
    expect(guardOutput(text)).toMatchObject({ value: text, redactions: 0 });
  });

  it("1 MB of continued curl lines takes linear time", () => {
    const text = "curl \\\n -X a:b".repeat(70_000);
    const started = performance.now();
    guardOutput(text);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
