// Copy the browser libraries installed by `npm ci` into the Python package's static folder.
//
// Usage: node web/vendor.mjs DEST   (run by `make web-assets`; DEST is git-ignored)
//
// NiiVue's dist/index.js is one self-contained ES module (its dependencies bundled in); it
// becomes DEST/niivue.js, imported by the viewer page from sstrkit's own server: nothing is
// fetched from the internet. versions.json records the version and licence served.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dest = process.argv[2];
if (!dest) {
  console.error("usage: node web/vendor.mjs DEST");
  process.exit(2);
}
const pkgDir = join(here, "node_modules", "@niivue", "niivue");
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf-8"));
const code = readFileSync(join(pkgDir, "dist", "index.js"), "utf-8")
  .replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
if (!/export\s*\{[^}]*\bNiivue\b/.test(code) || /^import\s/m.test(code)) {
  console.error(`unexpected NiiVue bundle in ${pkgDir} (version ${pkg.version})`);
  process.exit(1);
}
mkdirSync(dest, { recursive: true });
const write = (name, text) => {
  const tmp = join(dest, `.${name}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dest, name));
};
write("niivue.js", `/* @niivue/niivue ${pkg.version} (${pkg.license}) */\n${code}`);
const versions = { "@niivue/niivue": { version: pkg.version, license: pkg.license } };
write("versions.json", JSON.stringify(versions, null, 2) + "\n");
console.log(`web assets: NiiVue ${pkg.version} -> ${join(dest, "niivue.js")}`);
