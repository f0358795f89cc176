// `redocly lint` of the committed contract with ../../redocly.yaml, failing on any error AND
// any warning (redocly itself fails on errors only). Prints each problem with its JSON pointer.
import { spawnSync } from "node:child_process";

const lint = spawnSync(
  "npx",
  ["--no-install", "redocly", "lint", "--config", "../../redocly.yaml", "--format=json",
    "../../openapi/openapi.json"],
  { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
);
let report;
try {
  report = JSON.parse(lint.stdout);
} catch {
  console.error(lint.stdout + lint.stderr);
  process.exit(1);
}
for (const problem of report.problems) {
  const where = problem.location.map((l) => `${l.pointer} (line ${l.start?.line})`).join(", ");
  console.error(`${problem.severity} ${problem.ruleId}: ${problem.message} at ${where}`);
}
const { errors, warnings } = report.totals;
if (errors || warnings) {
  console.error(`redocly lint: ${errors} errors, ${warnings} warnings in openapi/openapi.json`);
  process.exit(1);
}
console.log("redocly lint: openapi/openapi.json has no errors and no warnings");
