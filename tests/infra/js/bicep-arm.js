// Translates a parsed Bicep file into the ARM JSON (languageVersion 1.0) that `bicep build` would write for it,
// declaration by declaration, so a contract test can hold a hand-written ARM twin against its Bicep source without a
// Bicep compiler. It covers what the project's templates use and throws, naming the construct, on anything else:
//
//   - parameters('x'), variables('x'); a variable that reads a runtime value (a resource's properties, a module's
//     outputs) is inlined where it is used, as Bicep does, because ARM variables cannot call reference();
//   - <res>.id / .name / .properties.x / .identity.x on declared and existing resources, parent chains, scope: to a
//     resource and to resourceGroup(...); <module>.outputs.x;
//   - loops (copy, copyIndex()), conditions, implicit and explicit dependsOn, modules as nested deployments with
//     inner expression scope, loadJsonContent / loadTextContent inlined.
//
// Expressions come out in the form Bicep emits (format() for interpolation, createObject() / createArray() inside
// expressions, JSON objects and arrays at property level); the Go side compares them with the twin after removing
// blanks outside string literals.
'use strict';

const fs = require('fs');
const path = require('path');

const DEPLOYMENTS_TYPE = 'Microsoft.Resources/deployments';
const DEPLOYMENTS_VERSION = '2022-09-01';
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

// isPropertyKey reports whether an identifier is the key of an object property, not a reference.
function isPropertyKey(n) {
  const p = n.parent;
  return n.type === 'identifier' && p && p.type === 'object_property' && named(p)[0] && named(p)[0].id === n.id;
}

function armString(s) {
  return "'" + s.replace(/'/g, "''") + "'";
}

class Untranslatable extends Error {}

// declaration splits a resource or module declaration into its parts.
function declaration(n) {
  const kids = named(n);
  const out = { symbol: kids[0].text, target: stringValue(kids[1]), loop: null, condition: null, body: null, line: n.startPosition.row + 1 };
  let rest = kids[2];
  if (rest && rest.type === 'for_statement') {
    const parts = named(rest);
    const head = parts[0];
    if (head.type === 'for_loop_parameters') {
      const [item, index] = named(head);
      out.loop = { item: item ? item.text : null, index: index ? index.text : null, iterable: parts[1] };
    } else {
      out.loop = { item: head.text, index: null, iterable: parts[1] };
    }
    rest = rest.childForFieldName('body') || parts[parts.length - 1];
  }
  if (rest && rest.type === 'if_statement') {
    const parts = named(rest);
    out.condition = parts.find((k) => k.type !== 'object');
    rest = parts.find((k) => k.type === 'object');
  }
  out.body = rest && rest.type === 'object' ? rest : null;
  out.existing = n.type === 'resource_declaration' && /'\s+existing\s*=/.test(n.text.slice(0, n.text.indexOf('=') + 1));
  return out;
}

function bodyProps(body) {
  const props = new Map();
  if (!body) return props;
  for (const p of named(body)) {
    if (p.type !== 'object_property') continue;
    const [k, v] = named(p);
    props.set(k.type === 'string' ? stringValue(k) : k.text, v);
  }
  return props;
}

class FileTranslator {
  constructor(file, root) {
    this.file = file;
    this.dir = path.dirname(file);
    this.params = new Set();
    this.vars = new Map(); // name -> expression node
    this.resources = new Map(); // symbol -> declaration + props
    this.modules = new Map();
    this.runtimeCache = new Map();
    // loadsAsCalls keeps load*() calls as calls instead of refusing them, for the summary's per-value translations,
    // whose Go side compares the loaded file itself.
    this.loadsAsCalls = false;
    for (const n of named(root)) {
      const k = named(n);
      if (n.type === 'parameter_declaration') this.params.add(k[0].text);
      if (n.type === 'variable_declaration') this.vars.set(k[0].text, k[k.length - 1]);
      if (n.type === 'resource_declaration') {
        const d = declaration(n);
        const [type, version] = d.target.split('@');
        Object.assign(d, { type, version, props: bodyProps(d.body) });
        this.resources.set(d.symbol, d);
      }
      if (n.type === 'module_declaration') {
        const d = declaration(n);
        d.props = bodyProps(d.body);
        this.modules.set(d.symbol, d);
      }
    }
  }

  // loopScope binds a declaration's loop variables to their ARM form.
  loopScope(d) {
    const scope = {};
    if (!d.loop) return scope;
    const iter = this.expr(d.loop.iterable, {});
    if (d.loop.item) scope[d.loop.item] = `${iter}[copyIndex()]`;
    if (d.loop.index) scope[d.loop.index] = 'copyIndex()';
    return scope;
  }

  // segments returns the ARM expressions of a resource's name segments, parents first.
  segments(sym) {
    const d = this.resources.get(sym);
    const nameNode = d.props.get('name');
    if (!nameNode) throw new Untranslatable(`resource ${sym} has no name`);
    const own = this.expr(nameNode, this.loopScope(d));
    const parent = d.props.get('parent');
    if (!parent) return [own];
    if (parent.type !== 'identifier' || !this.resources.has(parent.text)) {
      throw new Untranslatable(`resource ${sym}: parent ${parent.text} is not a resource of this file`);
    }
    return [...this.segments(parent.text), own];
  }

  // resourceScopeArgs returns the leading resourceId() arguments of an existing resource in another resource group.
  resourceGroupArgs(sym) {
    const d = this.resources.get(sym);
    const scope = d.props.get('scope');
    if (!scope) {
      const parent = d.props.get('parent');
      return parent && this.resources.has(parent.text) ? this.resourceGroupArgs(parent.text) : [];
    }
    if (scope.type === 'call_expression' && scope.childForFieldName('function').text === 'resourceGroup') {
      const args = scope.childForFieldName('arguments');
      return (args ? named(args) : []).map((a) => this.expr(a, {}));
    }
    throw new Untranslatable(`resource ${sym}: scope ${scope.text} is not resourceGroup(...)`);
  }

  resourceId(sym) {
    const d = this.resources.get(sym);
    return `resourceId(${[...this.resourceGroupArgs(sym), armString(d.type), ...this.segments(sym)].join(', ')})`;
  }

  moduleId(sym) {
    const d = this.modules.get(sym);
    const nameNode = d.props.get('name');
    if (!nameNode) throw new Untranslatable(`module ${sym} has no name`);
    return `resourceId(${armString(DEPLOYMENTS_TYPE)}, ${this.expr(nameNode, {})})`;
  }

  // scopeOf is the "scope" property of an extension resource whose scope: is another resource.
  scopeOf(node) {
    if (node.type !== 'identifier' || !this.resources.has(node.text)) {
      throw new Untranslatable(`scope ${node.text} is not a resource of this file`);
    }
    const d = this.resources.get(node.text);
    const [ns, ...types] = d.type.split('/');
    const segs = this.segments(node.text);
    let fmt = ns;
    types.forEach((t, i) => {
      fmt += `/${t}/{${i}}`;
    });
    return `format(${[armString(fmt), ...segs].join(', ')})`;
  }

  // isRuntime reports whether an expression reads a value that exists only during the deployment.
  isRuntime(node) {
    let runtime = false;
    const visit = (n) => {
      if (runtime) return;
      if (n.type === 'member_expression') {
        const obj = n.childForFieldName('object');
        const prop = n.childForFieldName('property').text;
        if (obj.type === 'identifier') {
          if (this.resources.has(obj.text) && !['id', 'name', 'type', 'apiVersion'].includes(prop)) runtime = true;
          if (this.modules.has(obj.text) && prop === 'outputs') runtime = true;
        }
      }
      if (n.type === 'call_expression') {
        const fn = n.childForFieldName('function').text;
        if (fn === 'reference' || /^list/.test(fn)) runtime = true;
      }
      if (n.type === 'identifier' && !isPropertyKey(n) && this.vars.has(n.text) && this.isRuntimeVar(n.text)) runtime = true;
      for (const c of named(n)) visit(c);
    };
    visit(node);
    return runtime;
  }

  isRuntimeVar(name) {
    if (!this.runtimeCache.has(name)) {
      this.runtimeCache.set(name, false); // breaks cycles
      this.runtimeCache.set(name, this.isRuntime(this.vars.get(name)));
    }
    return this.runtimeCache.get(name);
  }

  // expr translates an expression to ARM template language, without the brackets. scope binds loop variables.
  expr(node, scope) {
    const kids = named(node);
    switch (node.type) {
      case 'identifier': {
        const name = node.text;
        if (Object.prototype.hasOwnProperty.call(scope, name)) return scope[name];
        if (this.params.has(name)) return `parameters('${name}')`;
        if (this.vars.has(name)) {
          return this.isRuntimeVar(name) ? this.expr(this.vars.get(name), {}) : `variables('${name}')`;
        }
        throw new Untranslatable(`identifier ${name} (a resource or module cannot be used as a value)`);
      }
      case 'string': {
        if (!hasInterpolation(node)) return armString(stringValue(node));
        let fmt = '';
        const args = [];
        for (const c of kids) {
          if (c.type === 'string_content') fmt += c.text.replace(/\{/g, '{{').replace(/\}/g, '}}');
          else if (c.type === 'escape_sequence') fmt += escapes[c.text] ?? c.text;
          else {
            fmt += `{${args.length}}`;
            args.push(this.expr(named(c)[0], scope));
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
        return `createArray(${kids.map((k) => this.expr(k, scope)).join(', ')})`;
      case 'object': {
        const parts = [];
        for (const prop of kids) {
          if (prop.type !== 'object_property') continue;
          const [k, v] = named(prop);
          parts.push(k.type === 'string' ? this.expr(k, scope) : armString(k.text), this.expr(v, scope));
        }
        return `createObject(${parts.join(', ')})`;
      }
      case 'parenthesized_expression':
        return this.expr(kids[0], scope);
      case 'call_expression': {
        const fn = node.childForFieldName('function').text.replace(/^sys\./, '');
        if (/^load/.test(fn) && !this.loadsAsCalls) {
          throw new Untranslatable(`${fn}() inside an expression (only a whole variable may load a file)`);
        }
        const args = node.childForFieldName('arguments');
        return `${fn}(${(args ? named(args) : []).map((a) => this.expr(a, scope)).join(', ')})`;
      }
      case 'member_expression': {
        const obj = node.childForFieldName('object');
        const prop = node.childForFieldName('property').text;
        if (obj.type === 'identifier' && !Object.prototype.hasOwnProperty.call(scope, obj.text)) {
          if (this.resources.has(obj.text)) {
            const r = this.resources.get(obj.text);
            if (r.loop) throw new Untranslatable(`${node.text}: a looped resource needs an index`);
            if (prop === 'id') return this.resourceId(obj.text);
            if (prop === 'name') {
              const segs = this.segments(obj.text);
              return segs[segs.length - 1];
            }
            if (prop === 'type') return armString(r.type);
            if (prop === 'apiVersion') return armString(r.version);
            if (prop === 'properties') return `reference(${this.resourceId(obj.text)}, ${armString(r.version)})`;
            return `reference(${this.resourceId(obj.text)}, ${armString(r.version)}, 'full').${prop}`;
          }
          if (this.modules.has(obj.text)) {
            if (prop === 'name') return this.expr(this.modules.get(obj.text).props.get('name'), {});
            throw new Untranslatable(`${node.text}: a module has only .name and .outputs.<name>`);
          }
        }
        if (obj.type === 'member_expression') {
          const inner = obj.childForFieldName('object');
          if (inner.type === 'identifier' && this.modules.has(inner.text) && obj.childForFieldName('property').text === 'outputs') {
            return `reference(${this.moduleId(inner.text)}, '${DEPLOYMENTS_VERSION}').outputs.${prop}.value`;
          }
        }
        return `${this.expr(obj, scope)}.${prop}`;
      }
      case 'subscript_expression':
        return `${this.expr(node.childForFieldName('object'), scope)}[${this.expr(node.childForFieldName('index'), scope)}]`;
      case 'unary_expression': {
        const op = node.childForFieldName('operator').text;
        const arg = this.expr(node.childForFieldName('argument'), scope);
        if (op === '!') return `not(${arg})`;
        if (op === '-') return `sub(0, ${arg})`;
        throw new Untranslatable(`operator ${op}`);
      }
      case 'binary_expression': {
        const l = this.expr(node.childForFieldName('left'), scope);
        const r = this.expr(node.childForFieldName('right'), scope);
        const op = node.childForFieldName('operator').text;
        const fns = { '==': 'equals', '&&': 'and', '||': 'or', '<': 'less', '>': 'greater', '<=': 'lessOrEquals',
          '>=': 'greaterOrEquals', '??': 'coalesce', '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod' };
        if (op === '!=') return `not(equals(${l}, ${r}))`;
        if (fns[op]) return `${fns[op]}(${l}, ${r})`;
        throw new Untranslatable(`operator ${op}`);
      }
      case 'ternary_expression':
        return `if(${this.expr(node.childForFieldName('condition'), scope)}, ${this.expr(node.childForFieldName('consequence'), scope)}, ${this.expr(node.childForFieldName('alternative'), scope)})`;
      default:
        throw new Untranslatable(`${node.type} ${node.text.slice(0, 60)}`);
    }
  }

  // json translates a value at property level: literals stay JSON, object and array literals stay JSON structures,
  // anything else becomes a "[...]" expression string. Failures become {"$armError", "$expr"} so the Go side can name
  // the declaration and property.
  json(node, scope) {
    try {
      return this.jsonOrThrow(node, scope);
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      return { $armError: e.message, $expr: node.text };
    }
  }

  jsonOrThrow(node, scope) {
    switch (node.type) {
      case 'string': {
        if (hasInterpolation(node)) return `[${this.expr(node, scope)}]`;
        const s = stringValue(node);
        return s.startsWith('[') ? `[${s}` : s;
      }
      case 'number':
        return Number(node.text);
      case 'boolean':
        return node.text === 'true';
      case 'null':
        return null;
      case 'array':
        return named(node).map((k) => this.json(k, scope));
      case 'object': {
        const out = {};
        for (const prop of named(node)) {
          if (prop.type !== 'object_property') continue;
          const [k, v] = named(prop);
          const key = k.type === 'string' && hasInterpolation(k) ? `[${this.expr(k, scope)}]` : (k.type === 'string' ? stringValue(k) : k.text);
          out[key] = v ? this.json(v, scope) : null;
        }
        return out;
      }
      case 'parenthesized_expression':
        return this.jsonOrThrow(named(node)[0], scope);
      case 'call_expression': {
        const fn = node.childForFieldName('function').text.replace(/^sys\./, '');
        if (fn === 'loadJsonContent' || fn === 'loadTextContent') {
          const args = named(node.childForFieldName('arguments'));
          if (args.length !== 1 || args[0].type !== 'string' || hasInterpolation(args[0])) {
            throw new Untranslatable(`${fn}() needs one literal path`);
          }
          let text;
          try {
            text = fs.readFileSync(path.join(this.dir, stringValue(args[0])), 'utf8');
            return fn === 'loadJsonContent' ? JSON.parse(text) : text;
          } catch (e) {
            throw new Untranslatable(`${fn}('${stringValue(args[0])}'): ${e.message}`);
          }
        }
        return `[${this.expr(node, scope)}]`;
      }
      default:
        return `[${this.expr(node, scope)}]`;
    }
  }

  // dependencies lists the declared (not existing) resources and the modules a node refers to, through variables and
  // existing resources, as Bicep's implicit dependsOn does.
  dependencies(node, self, seen = new Set()) {
    const out = new Set();
    const visit = (n) => {
      if (isPropertyKey(n)) return;
      if (n.type === 'identifier') {
        const name = n.text;
        if (name !== self && this.modules.has(name)) out.add(name);
        if (name !== self && this.resources.has(name)) {
          const r = this.resources.get(name);
          if (!r.existing) out.add(name);
          else if (!seen.has(name) && r.body) {
            seen.add(name);
            for (const d of this.dependencies(r.body, self, seen)) out.add(d);
          }
        }
        if (this.vars.has(name) && !seen.has(`var:${name}`)) {
          seen.add(`var:${name}`);
          for (const d of this.dependencies(this.vars.get(name), self, seen)) out.add(d);
        }
      }
      for (const c of named(n)) visit(c);
    };
    visit(node);
    return out;
  }

  dependsOn(d) {
    const deps = new Set();
    for (const n of [d.body, d.condition, d.loop && d.loop.iterable]) {
      if (n) for (const x of this.dependencies(n, d.symbol)) deps.add(x);
    }
    const out = [];
    for (const sym of [...deps].sort()) {
      if (this.modules.has(sym)) out.push(`[${this.moduleId(sym)}]`);
      else if (this.resources.get(sym).loop) out.push(sym);
      else out.push(`[${this.resourceId(sym)}]`);
    }
    return out;
  }

  guard(fn) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      return { $armError: e.message };
    }
  }

  resource(d) {
    const scope = this.loopScope(d);
    const out = { type: d.type, apiVersion: d.version };
    out.name = this.guard(() => {
      const segs = this.segments(d.symbol);
      if (segs.length === 1) return this.json(d.props.get('name'), scope);
      return `[format(${[armString(segs.map((_, i) => `{${i}}`).join('/')), ...segs].join(', ')})]`;
    });
    if (d.condition) out.condition = this.guard(() => `[${this.expr(d.condition, scope)}]`);
    if (d.loop) out.copy = this.guard(() => ({ name: d.symbol, count: `[length(${this.expr(d.loop.iterable, {})})]` }));
    for (const [k, v] of d.props) {
      if (k === 'name' || k === 'parent' || k === 'dependsOn') continue;
      out[k] = k === 'scope' ? this.guard(() => `[${this.scopeOf(v)}]`) : this.json(v, scope);
    }
    const deps = this.guard(() => this.dependsOn(d));
    if (!Array.isArray(deps) || deps.length > 0) out.dependsOn = deps;
    return out;
  }

  module(d) {
    const out = { type: DEPLOYMENTS_TYPE, apiVersion: DEPLOYMENTS_VERSION, name: this.json(d.props.get('name'), {}) };
    if (d.loop) out.copy = { $armError: 'module loops are not supported by the contract' };
    if (d.condition) out.condition = this.guard(() => `[${this.expr(d.condition, {})}]`);
    for (const k of d.props.keys()) {
      if (!['name', 'params', 'dependsOn'].includes(k)) out[k] = { $armError: `module property ${k} is not supported by the contract` };
    }
    const parameters = {};
    for (const [k, v] of bodyProps(d.props.get('params'))) parameters[k] = { value: this.json(v, {}) };
    out.properties = { expressionEvaluationOptions: { scope: 'inner' }, mode: 'Incremental', parameters };
    const deps = this.guard(() => this.dependsOn(d));
    if (!Array.isArray(deps) || deps.length > 0) out.dependsOn = deps;
    return out;
  }

  translate(root, outputs) {
    const vars = {};
    const runtimeVars = [];
    for (const [name, node] of this.vars) {
      if (this.isRuntimeVar(name)) runtimeVars.push(name);
      else vars[name] = this.json(node, {});
    }
    const resources = [];
    for (const d of this.resources.values()) {
      if (d.existing) continue;
      resources.push({ symbol: d.symbol, line: d.line, value: this.resource(d) });
    }
    const modules = [];
    for (const d of this.modules.values()) {
      modules.push({ symbol: d.symbol, line: d.line, path: d.target, value: this.module(d) });
    }
    const outs = {};
    for (const o of outputs) outs[o.name] = this.json(o.node, {});
    return { vars, runtimeVars, resources, modules, outputs: outs };
  }
}

// translate returns the ARM form of a file's declarations. outputs are {name, node} of its output declarations.
function translate(file, root, outputs) {
  return new FileTranslator(file, root).translate(root, outputs);
}

module.exports = { translate, FileTranslator, named, stringValue, hasInterpolation };
