// Every URL the gateway calls is refused at boot when it carries user info: fetch refuses such a
// URL on every request, and its error quotes the URL, password included, into the log, the
// decision log's error entries and /readyz. The refusal names the variable, never the URL.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

const PASSWORD = "Sh0uldNeverBeLogged";

describe("URL settings with a user name or password", () => {
  it.each(["POLICY_OPA_URL", "DECISION_LOG_URL", "WORKER_URL", "KILL_SWITCH_PAGE_URL"])(
    "%s is refused without printing the password",
    (name) => {
      let thrown: unknown;
      try {
        loadConfig({ [name]: `https://svc-user:${PASSWORD}@collector.zyxbank.example/v1/` });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const message = (thrown as Error).message;
      expect(message).toContain(name);
      expect(message).toContain("must not carry a user name or password");
      expect(message).not.toContain(PASSWORD);
    },
  );
});
