// Bundles the apply program into one file (lib/bundle/jetstream-apply.js, the package's bin) and
// its gzip (what the Job's ConfigMap ships), and checks the ConfigMap still fits client-side apply.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { build, buildSync } = require('esbuild');

const root = path.join(__dirname, '..');
const outfile = path.join(root, 'lib', 'bundle', 'jetstream-apply.js');
const generated = path.join(root, 'lib', 'bundle', 'generated');

/**
 * The streams document's validator, compiled ahead of time with ajv's standalone code and the
 * options the library's ajv uses (src/problems.ts), `verbose` only when the schema has an `anyOf`
 * (whose errors need it; it makes the code a third larger): the program then compiles no schema
 * when it runs (about a sixth of an unchanged re-apply) and ships ajv's runtime helpers, not its compiler.
 */
function precompileDocumentValidator() {
  fs.mkdirSync(generated, { recursive: true });
  const schemaModule = path.join(generated, 'document-schema.js');
  buildSync({ entryPoints: [path.join(root, 'src', 'apply', 'document-schema.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: schemaModule, logLevel: 'warning' });
  delete require.cache[schemaModule];
  const { DOCUMENT_SCHEMA } = require(schemaModule);
  const Ajv = require('ajv').default;
  const standaloneCode = require('ajv/dist/standalone').default;
  const verbose = JSON.stringify(DOCUMENT_SCHEMA).includes('"anyOf"');
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, validateSchema: false, verbose, code: { source: true } });
  const validator = path.join(generated, 'document-validator.js');
  fs.writeFileSync(validator, `${standaloneCode(ajv, ajv.compile(DOCUMENT_SCHEMA))}\nmodule.exports = { validateDocument: module.exports };\n`);
  return validator;
}

const documentValidator = precompileDocumentValidator();
/** Resolves the program's import of its runtime-compiled validator to the precompiled one. */
const precompiled = {
  name: 'precompiled-validator',
  setup(build) {
    build.onResolve({ filter: /\/document-validator$/ }, () => ({ path: documentValidator }));
    // The compiler itself: src/problems.ts requires it only to compile a schema, which the program never does.
    build.onResolve({ filter: /^ajv$/ }, () => ({ path: 'ajv', external: true }));
    // The YAML parser: only the streams commands' --dist and --connection read YAML, run from the installed package.
    build.onResolve({ filter: /^yaml$/ }, () => ({ path: 'yaml', external: true }));
  },
};
// kubectl's client-side apply copies the whole object into an annotation, and the API server
// allows 256 KiB for all annotations of an object: keep the program well inside that.
const BASE64_BUDGET = 192 * 1024;

async function main() {
  // Asynchronous: esbuild takes plugins only there.
  await build({
    entryPoints: [path.join(root, 'src', 'apply', 'bin.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    banner: { js: '#!/usr/bin/env node' },
    plugins: [precompiled],
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
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
