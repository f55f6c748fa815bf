import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{common,gateway,idp,agent,test,scripts,examples}/**/*.test.ts"],
    // Tests that spawn processes or bind sockets need more than the default.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
