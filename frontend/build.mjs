// Builds the Callback Events tab into tb_callbacks_plugin/server/static/ (committed,
// so that `pip install` needs no Node).
//
//   node build.mjs                 # writes ../tb_callbacks_plugin/server/static
//   node build.mjs --outdir DIR    # writes DIR instead (the staleness test)
//
// The output must depend on nothing but the sources and the locked package
// versions: no timestamps, no absolute paths, no source maps, so that a
// rebuild is byte-identical to the committed bundle.
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--outdir");
const outdir = path.resolve(
  outIndex >= 0 ? args[outIndex + 1] : path.join(here, "..", "tb_callbacks_plugin", "server", "static"),
);

// Everything the build writes; anything else in outdir is stale and removed.
const OUTPUTS = ["index.js", "index.css"];

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "warning",
  target: "es2020",
  write: false,
};

const results = await Promise.all([
  esbuild.build({ ...common, entryPoints: { index: "src/main.ts" }, format: "esm", outdir }),
  esbuild.build({ ...common, entryPoints: { index: "src/styles.css" }, outdir }),
]);

fs.mkdirSync(outdir, { recursive: true });
for (const name of fs.readdirSync(outdir)) {
  if (!OUTPUTS.includes(name)) fs.rmSync(path.join(outdir, name), { recursive: true, force: true });
}
const written = [];
for (const result of results) {
  for (const file of result.outputFiles) {
    const name = path.basename(file.path);
    if (!OUTPUTS.includes(name)) throw new Error(`unexpected build output ${name}`);
    fs.writeFileSync(file.path, file.contents);
    written.push(`${name} ${file.contents.length} bytes`);
  }
}
console.log(`built ${path.relative(process.cwd(), outdir) || "."}: ${written.join(", ")}`);
