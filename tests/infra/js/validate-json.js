#!/usr/bin/env node
// Validates JSON files against a JSON Schema (draft 2020-12) with ajv in strict mode:
//
//   node tests/infra/js/validate-json.js SCHEMA.json FILE.json...
//
// Prints every violation as "<file>: <instance path> <message>" and exits 1 if there is one.
'use strict';

const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020');

const [schemaPath, ...files] = process.argv.slice(2);
if (!schemaPath || files.length === 0) {
  process.stderr.write('usage: validate-json.js SCHEMA.json FILE.json...\n');
  process.exit(2);
}
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
let failed = false;
for (const file of files) {
  let data;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    process.stdout.write(`${file}: not JSON: ${e.message}\n`);
    failed = true;
    continue;
  }
  if (!validate(data)) {
    failed = true;
    for (const err of validate.errors) {
      const extra = err.params && err.params.additionalProperty ? ` (${err.params.additionalProperty})` : '';
      process.stdout.write(`${file}: ${err.instancePath || '/'} ${err.message}${extra}\n`);
    }
  }
}
process.exit(failed ? 1 : 0);
