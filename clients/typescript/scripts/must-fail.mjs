// Compiles examples/must-fail.ts and passes only if tsc refuses it with an error on exactly the
// lines that follow its `@expect-error-line` comments: a contract that stopped catching one of
// these mistakes (or a file that fails for another reason) fails `make contract-check`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const file = "examples/must-fail.ts";
const lines = readFileSync(file, "utf8").split("\n");
const expected = new Set();
lines.forEach((line, index) => {
  if (line.trim().startsWith("// @expect-error-line")) expected.add(index + 2); // the next line, 1-based
});

const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.must-fail.json"], { encoding: "utf8" });
const found = new Set();
for (const match of tsc.stdout.matchAll(/^examples\/must-fail\.ts\((\d+),\d+\): error/gm)) {
  found.add(Number(match[1]));
}
const missing = [...expected].filter((line) => !found.has(line));
const unexpected = [...found].filter((line) => !expected.has(line));
if (tsc.status === 0 || missing.length || unexpected.length || expected.size === 0) {
  console.error(tsc.stdout + tsc.stderr);
  console.error(
    `${file}: tsc should refuse lines ${[...expected].join(", ")}; ` +
      `missing ${missing.join(", ") || "none"}, unexpected ${unexpected.join(", ") || "none"}`,
  );
  process.exit(1);
}
console.log(`${file}: refused as expected (${expected.size} errors)`);
