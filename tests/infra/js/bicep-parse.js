#!/usr/bin/env node
// Parses Bicep files with tree-sitter-bicep (no Bicep compiler runs offline) and prints, as one JSON array, each
// file's syntax errors and a summary of its declarations for the Go contract tests in tests/infra:
//
//   node tests/infra/js/bicep-parse.js infra/main.bicep infra/modules/*.bicep
//
// tree-sitter-bicep 1.1.0 does not know the `extension` statement, so such lines are commented out (keeping line
// numbers) before parsing. Values are converted to JSON where they are literals; any other expression becomes
// {"$expr": "<source text>"}.
'use strict';

const fs = require('fs');
const Parser = require('tree-sitter');
const Bicep = require('tree-sitter-bicep');
const { translate } = require('./bicep-arm');

const parser = new Parser();
parser.setLanguage(Bicep);

const escapes = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };

function named(node) {
  return node.namedChildren.filter((c) => c.type !== 'comment' && c.type !== 'diagnostic_comment');
}

function stringValue(node) {
  let out = '';
  for (const c of named(node)) {
    if (c.type === 'string_content') out += c.text;
    else if (c.type === 'escape_sequence') out += escapes[c.text] ?? c.text;
    else out += '${' + named(c).map((x) => x.text).join('') + '}';
  }
  return out;
}

function hasInterpolation(node) {
  return named(node).some((c) => c.type === 'interpolation');
}

// Translation of Bicep expressions to ARM template language, for the subset the hand-written ARM templates use,
// so a contract test can compare a Bicep template with its ARM twin expression by expression. ctx holds the
// file's parameters, variables and resources. Throws on anything it does not know.
function armString(s) {
  return "'" + s.replace(/'/g, "''") + "'";
}

function arm(node, ctx) {
  const kids = named(node);
  switch (node.type) {
    case 'identifier':
      if (ctx.params.has(node.text)) return `parameters('${node.text}')`;
      if (ctx.vars.has(node.text)) return `variables('${node.text}')`;
      throw new Error(`cannot translate identifier ${node.text}`);
    case 'string': {
      if (!hasInterpolation(node)) return armString(stringValue(node));
      let fmt = '';
      const args = [];
      for (const c of kids) {
        if (c.type === 'string_content') fmt += c.text.replace(/\{/g, '{{').replace(/\}/g, '}}');
        else if (c.type === 'escape_sequence') fmt += escapes[c.text] ?? c.text;
        else {
          fmt += `{${args.length}}`;
          args.push(arm(named(c)[0], ctx));
        }
      }
      return `format(${[armString(fmt), ...args].join(', ')})`;
    }
    case 'number':
      return node.text;
    case 'boolean':
      return node.text === 'true' ? 'true()' : 'false()';
    case 'null':
      return 'null()';
    case 'array':
      return `createArray(${kids.map((k) => arm(k, ctx)).join(', ')})`;
    case 'object': {
      const parts = [];
      for (const prop of kids) {
        if (prop.type !== 'object_property') continue;
        const [k, v] = named(prop);
        parts.push(armString(k.type === 'string' ? stringValue(k) : k.text), arm(v, ctx));
      }
      return `createObject(${parts.join(', ')})`;
    }
    case 'parenthesized_expression':
      return arm(kids[0], ctx);
    case 'call_expression': {
      const fn = node.childForFieldName('function').text.replace(/^sys\./, '');
      const args = node.childForFieldName('arguments');
      return `${fn}(${(args ? named(args) : []).map((a) => arm(a, ctx)).join(', ')})`;
    }
    case 'member_expression': {
      const obj = node.childForFieldName('object');
      const prop = node.childForFieldName('property').text;
      if (obj.type === 'identifier' && ctx.resources.has(obj.text)) {
        const r = ctx.resources.get(obj.text);
        const id = `resourceId(${armString(r.type)}, ${armString(r.name)})`;
        if (prop === 'id') return id;
        if (prop === 'name') return armString(r.name);
        if (prop === 'properties') return `reference(${id}, ${armString(r.version)})`;
        throw new Error(`cannot translate ${node.text}`);
      }
      return `${arm(obj, ctx)}.${prop}`;
    }
    case 'subscript_expression':
      return `${arm(node.childForFieldName('object'), ctx)}[${arm(node.childForFieldName('index'), ctx)}]`;
    case 'unary_expression':
      if (node.childForFieldName('operator').text === '!') return `not(${arm(node.childForFieldName('argument'), ctx)})`;
      throw new Error(`cannot translate ${node.text}`);
    case 'binary_expression': {
      const l = arm(node.childForFieldName('left'), ctx);
      const r = arm(node.childForFieldName('right'), ctx);
      const op = node.childForFieldName('operator').text;
      const fns = { '==': 'equals', '&&': 'and', '||': 'or', '<': 'less', '>': 'greater', '<=': 'lessOrEquals',
        '>=': 'greaterOrEquals', '??': 'coalesce' };
      if (op === '!=') return `not(equals(${l}, ${r}))`;
      if (fns[op]) return `${fns[op]}(${l}, ${r})`;
      throw new Error(`cannot translate operator ${op}`);
    }
    case 'ternary_expression':
      return `if(${arm(node.childForFieldName('condition'), ctx)}, ${arm(node.childForFieldName('consequence'), ctx)}, ${arm(node.childForFieldName('alternative'), ctx)})`;
    default:
      throw new Error(`cannot translate ${node.type}`);
  }
}

// withArm adds the ARM translation of an expression node to its converted value.
function withArm(v, node) {
  try {
    v.$arm = arm(node, currentCtx);
  } catch (e) {
    v.$armError = e.message;
  }
  return v;
}

let currentCtx = { params: new Set(), vars: new Set(), resources: new Map() };

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

  currentCtx = { params: new Set(), vars: new Set(), resources: new Map() };
  for (const n of named(root)) {
    const k = named(n);
    if (n.type === 'parameter_declaration') currentCtx.params.add(k[0].text);
    if (n.type === 'variable_declaration') currentCtx.vars.add(k[0].text);
    if (n.type === 'resource_declaration') {
      const [type, version] = stringValue(k[1]).split('@');
      const body = k.find((x) => x.type === 'object');
      const nameProp = body && named(body).find((p) => p.type === 'object_property' && named(p)[0].text === 'name');
      const nameNode = nameProp && named(nameProp)[1];
      currentCtx.resources.set(k[0].text, {
        type, version, name: nameNode && nameNode.type === 'string' && !hasInterpolation(nameNode) ? stringValue(nameNode) : null,
      });
    }
  }

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
