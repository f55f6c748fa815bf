import { buildPolicyVariant, outOfTheWay } from "../../scripts/lib/policy-variant.ts";
import { makeKeys, publicOf } from "./calls.ts";
import { startKeySetServer } from "./servers.ts";
import { LIMIT, LIMITED_READ, LIMITED_WRITE, postgresFaults } from "./pg-phases.ts";
const cluster = buildPolicyVariant((config) => {
  outOfTheWay(config);
  const perTool = (config["limits"] as { per_tool: Record<string, number> }).per_tool;
  perTool[LIMITED_WRITE] = LIMIT;
  perTool[LIMITED_READ] = LIMIT;
});
const keys = await makeKeys();
const keySets = await startKeySetServer(6000);
keySets.keys.idp = [publicOf(keys.idp)];
keySets.keys.posture = [publicOf(keys.device)];
const tally = {
  faults: 0,
  calls: 0,
  wrongfulAllows: 0,
  undurable: 0,
  bad5xx: 0,
  hangs: 0,
  unexpected: 0,
  crashes: 0,
  kills: 0,
  brokenChains: 0,
  samples: [] as string[],
};
const t0 = Date.now();
const figures = await postgresFaults(
  { keys, tally, targets: [] },
  Number(process.env["N"] ?? "300"),
  { bundle: cluster.bundle, keySetsUrl: keySets.url },
);
console.error(JSON.stringify(figures));
for (const s of tally.samples) console.error(s.slice(0, 4000));
const { samples, ...rest } = tally;
console.error(JSON.stringify(rest), (Date.now() - t0) / 1000);
await keySets.close();
cluster.remove();
