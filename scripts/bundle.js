// Bundles the apply program into one file (lib/bundle/jetstream-apply.js, the package's bin) and
// its gzip (what the Job's ConfigMap ships), and checks the ConfigMap still fits client-side apply.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { buildSync } = require('esbuild');

const root = path.join(__dirname, '..');
const outfile = path.join(root, 'lib', 'bundle', 'jetstream-apply.js');
// kubectl's client-side apply copies the whole object into an annotation, and the API server
// allows 256 KiB for all annotations of an object: keep the program well inside that.
const BASE64_BUDGET = 192 * 1024;

buildSync({
  entryPoints: [path.join(root, 'src', 'apply', 'bin.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: '#!/usr/bin/env node' },
  outfile,
});
fs.chmodSync(outfile, 0o755);
const program = fs.readFileSync(outfile);
// Level 9 and no file name or time in the header: the same bundle always gives the same bytes.
const compressed = zlib.gzipSync(program, { level: 9 });
fs.writeFileSync(`${outfile}.gz`, compressed);
const base64 = Math.ceil(compressed.length / 3) * 4;
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`apply program: ${kib(program.length)}, gzip ${kib(compressed.length)}, `
  + `base64 in its ConfigMap ${kib(base64)} (${((base64 / (256 * 1024)) * 100).toFixed(0)}% of the 256 KiB client-side apply allows)`);
if (base64 > BASE64_BUDGET) {
  console.error(`the compressed program is over its budget of ${kib(BASE64_BUDGET)}: its ConfigMap would no longer apply client-side`);
  process.exit(1);
}
