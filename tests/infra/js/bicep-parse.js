#!/usr/bin/env node
// Parses Bicep files with tree-sitter-bicep (no Bicep compiler runs offline) and prints, as one JSON array, each
// file's syntax errors and a summary of its declarations for the Go contract tests in tests/infra:
//
//   node tests/infra/js/bicep-parse.js infra/main.bicep infra/modules/*.bicep
//
// tree-sitter-bicep 1.1.0 does not know the `extension` statement, so such lines are commented out (keeping line
// numbers) before parsing. Values are converted to JSON where they are literals; any other expression becomes
// {"$expr": "<source text>", "$arm": "<its ARM translation>"}. Each file also carries "arm", its declarations as
// `bicep build` would write them (bicep-arm.js), for the contract between infra/main.bicep and its ARM twin.
'use strict';

const fs = require('fs');
const Parser = require('tree-sitter');
const Bicep = require('tree-sitter-bicep');
const { translate, FileTranslator, named, stringValue, hasInterpolation } = require('./bicep-arm');

const parser = new Parser();
parser.setLanguage(Bicep);

// withArm adds the ARM translation of an expression node to its converted value.
function withArm(v, node) {
  try {
    v.$arm = currentTranslator.expr(node, {});
  } catch (e) {
    v.$armError = e.message;
  }
  return v;
}

// currentTranslator translates the expressions of the file being summarized (bicep-arm.js).
let currentTranslator = null;

// value converts a literal to JSON and anything else to {$expr}.
function value(node) {
  switch (node.type) {
    case 'string':
      return hasInterpolation(node) ? withArm({ $expr: node.text, $string: stringValue(node) }, node) : stringValue(node);
    case 'number':
      return Number(node.text);
    case 'boolean':
      return node.text === 'true';
    case 'null':
      return null;
    case 'array':
      return named(node).filter((c) => c.type !== 'decorators' && c.type !== 'comment').map(value);
    case 'object': {
      const out = {};
      for (const prop of named(node)) {
        if (prop.type !== 'object_property') continue;
        const [key, val] = named(prop);
        out[key.type === 'string' ? stringValue(key) : key.text] = val ? value(val) : null;
      }
      return out;
    }
    case 'ternary_expression': {
      const c = node.childForFieldName('consequence');
      const a = node.childForFieldName('alternative');
      return withArm({ $expr: node.text, $choices: [c ? value(c) : null, a ? value(a) : null] }, node);
    }
    case 'parenthesized_expression':
      return named(node).length === 1 ? value(named(node)[0]) : withArm({ $expr: node.text }, node);
    case 'identifier':
      return withArm({ $expr: node.text, $ident: node.text }, node);
    default:
      return withArm({ $expr: node.text }, node);
  }
}

// topObjects returns the object literals an expression can evaluate to (through ternaries and parentheses).
function topObjects(node) {
  if (node.type === 'object') return [node];
  if (node.type === 'ternary_expression' || node.type === 'parenthesized_expression') {
    return named(node).flatMap(topObjects);
  }
  return [];
}

function decoratorsOf(node) {
  let prev = node.previousNamedSibling;
  while (prev && prev.type === 'comment') prev = prev.previousNamedSibling;
  const out = {};
  if (!prev || prev.type !== 'decorators') return out;
  for (const dec of named(prev)) {
    const call = named(dec)[0];
    if (!call || call.type !== 'call_expression') continue;
    const fn = call.childForFieldName('function');
    const args = call.childForFieldName('arguments');
    const vals = args ? named(args).map(value) : [];
    const name = fn ? fn.text.replace(/^sys\./, '') : '';
    out[name] = vals.length === 0 ? true : vals[0];
  }
  return out;
}

function walk(node, visit) {
  visit(node);
  for (const c of named(node)) walk(c, visit);
}

function summarize(file) {
  const source = fs.readFileSync(file, 'utf8').replace(/^(\s*)extension\b/gm, '$1//extension');
  const tree = parser.parse(source);
  const root = tree.rootNode;
  const out = {
    file,
    errors: [],
    targetScope: null,
    params: [],
    vars: [],
    resources: [],
    modules: [],
    outputs: [],
    calls: [],
    strings: [],
    references: [],
    subscripts: [],
    loops: [],
    arm: null,
  };
  const outputNodes = [];

  walk(root, (n) => {
    if (n.type === 'ERROR' || n.isMissing) {
      out.errors.push({
        line: n.startPosition.row + 1,
        column: n.startPosition.column + 1,
        kind: n.isMissing ? `missing ${n.type}` : 'syntax error',
        text: n.text.slice(0, 80),
      });
    }
    if (n.type === 'string') {
      out.strings.push({ text: stringValue(n), line: n.startPosition.row + 1 });
    }
    if (n.type === 'call_expression') {
      const fn = n.childForFieldName('function');
      const args = n.childForFieldName('arguments');
      if (fn && /^load/.test(fn.text)) {
        out.calls.push({ fn: fn.text, args: args ? named(args).map(value) : [], line: n.startPosition.row + 1 });
      }
    }
    if (n.type === 'subscript_expression') {
      const obj = n.childForFieldName('object');
      const idx = n.childForFieldName('index');
      if (obj && idx) out.subscripts.push({ object: obj.text, index: value(idx), line: n.startPosition.row + 1 });
    }
    if (n.type === 'for_statement') {
      // for <item> in <iterable>: ... or for (<item>, <index>) in <iterable>: ...
      const [head, iter] = named(n);
      const item = head && head.type === 'for_loop_parameters' ? named(head)[0] : head;
      out.loops.push({ variable: item ? item.text : '', iterable: iter ? iter.text : '', line: n.startPosition.row + 1 });
    }
    if (n.type === 'identifier' && n.parent) {
      // Every identifier that is not the name being declared counts as a reference.
      const p = n.parent;
      const declaring = ['parameter_declaration', 'variable_declaration', 'resource_declaration', 'module_declaration',
        'output_declaration', 'type_declaration', 'user_defined_function', 'parameter', 'metadata_declaration'];
      const isDeclName = declaring.includes(p.type) && named(p)[0] && named(p)[0].id === n.id;
      const isPropKey = p.type === 'object_property' && named(p)[0] && named(p)[0].id === n.id;
      if (!isDeclName && !isPropKey) out.references.push(n.text);
    }
  });
  if (root.hasError && out.errors.length === 0) {
    out.errors.push({ line: 1, column: 1, kind: 'syntax error', text: 'tree-sitter reported an error' });
  }

  currentTranslator = new FileTranslator(file, root);
  currentTranslator.loadsAsCalls = true;

  for (const n of named(root)) {
    const line = n.startPosition.row + 1;
    const kids = named(n);
    switch (n.type) {
      case 'target_scope_assignment':
        out.targetScope = stringValue(kids[0]);
        break;
      case 'parameter_declaration': {
        const typeNode = kids.find((k) => k.type === 'type');
        const def = kids[kids.indexOf(typeNode) + 1];
        out.params.push({
          name: kids[0].text,
          type: typeNode ? typeNode.text : '',
          decorators: decoratorsOf(n),
          hasDefault: Boolean(def),
          default: def ? value(def) : null,
          line,
        });
        break;
      }
      case 'variable_declaration': {
        const expr = kids[kids.length - 1];
        out.vars.push({
          name: kids[0].text,
          value: value(expr),
          objectKeys: topObjects(expr).flatMap((o) => Object.keys(value(o))),
          line,
        });
        break;
      }
      case 'resource_declaration':
      case 'module_declaration': {
        const target = stringValue(kids[1]);
        const loop = kids.find((k) => k.type === 'for_statement');
        const cond = kids.find((k) => k.type === 'if_statement');
        const bodyNode = (loop || cond) ? named(loop || cond).find((k) => k.type === 'object') : kids.find((k) => k.type === 'object');
        const entry = {
          name: kids[0].text,
          decorators: decoratorsOf(n),
          loop: Boolean(loop),
          conditional: Boolean(cond),
          body: bodyNode ? value(bodyNode) : {},
          line,
        };
        if (n.type === 'resource_declaration') {
          entry.type = target;
          entry.existing = /'\s+existing\s*=/.test(n.text.slice(0, n.text.indexOf('=') + 1));
          // Nested child resources are declared inside the body; record them with their short type.
          out.resources.push(entry);
          if (bodyNode) {
            walk(bodyNode, (c) => {
              if (c.type === 'resource_declaration') {
                const ck = named(c);
                out.resources.push({ name: ck[0].text, type: stringValue(ck[1]), nested: true, line: c.startPosition.row + 1, body: {} });
              }
            });
          }
        } else {
          entry.path = target;
          out.modules.push(entry);
        }
        break;
      }
      case 'output_declaration': {
        const typeNode = kids.find((k) => k.type === 'type');
        out.outputs.push({
          name: kids[0].text, type: typeNode ? typeNode.text : '', decorators: decoratorsOf(n),
          value: value(kids[kids.length - 1]), line,
        });
        outputNodes.push({ name: kids[0].text, node: kids[kids.length - 1] });
        break;
      }
      default:
        break;
    }
  }
  if (out.errors.length === 0) out.arm = translate(file, root, outputNodes);
  return out;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: bicep-parse.js FILE.bicep...\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(files.map(summarize)) + '\n');
