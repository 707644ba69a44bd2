// The oracle of bench/bench_calls_ts.py: the TypeScript language service's definitions at
// every call site inside a function body.
//
//   node ts_oracle.js TYPESCRIPT_DIR ROOT CONFIG_JSON > sites.jsonl
//
// CONFIG_JSON: {"files": [paths relative to ROOT], "options": compiler options (JSON form),
// "types_root": a node_modules/@types directory or null}.
// One JSON line per call site (a call or `new` whose callee is a name or a property access,
// inside a function body): its file, the call's start line, the callee's name, the caller
// (the innermost enclosing definition, see `callerOf`) and what getDefinitionAtPosition gives
// at the callee's name: each definition's file (relative to ROOT, or null outside it), line,
// column, name and declaration kind.
"use strict";

const fs = require("fs");
const path = require("path");

const [tsDir, root, configPath] = process.argv.slice(2);
const ts = require(path.join(tsDir, "typescript"));
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
const rootAbs = path.resolve(root);
const files = config.files.map((f) => path.join(rootAbs, f));
const inRepo = new Set(files);
const parsed = ts.convertCompilerOptionsFromJson(config.options, rootAbs);
if (parsed.errors.length) {
  throw new Error(ts.flattenDiagnosticMessageText(parsed.errors[0].messageText, "\n"));
}
const options = parsed.options;
if (config.types_root) {
  options.typeRoots = [config.types_root];
}

const host = {
  getScriptFileNames: () => files,
  getScriptVersion: () => "1",
  getScriptSnapshot: (name) =>
    fs.existsSync(name) ? ts.ScriptSnapshot.fromString(fs.readFileSync(name, "utf8")) : undefined,
  getCurrentDirectory: () => rootAbs,
  getCompilationSettings: () => options,
  getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
  fileExists: ts.sys.fileExists,
  readFile: ts.sys.readFile,
  readDirectory: ts.sys.readDirectory,
  directoryExists: ts.sys.directoryExists,
  getDirectories: ts.sys.getDirectories,
};
const service = ts.createLanguageService(host, ts.createDocumentRegistry());
const program = service.getProgram();

const K = ts.SyntaxKind;
const FUNCTIONS = new Set([K.FunctionExpression, K.ArrowFunction]);
const FUNCTION_LIKE = new Set([
  K.FunctionDeclaration, K.FunctionExpression, K.ArrowFunction, K.MethodDeclaration,
  K.Constructor, K.GetAccessor, K.SetAccessor,
]);

function isModuleLevel(node) {
  // A statement directly in the file or in a namespace body.
  return node.parent && (node.parent.kind === K.SourceFile || node.parent.kind === K.ModuleBlock);
}

function topStatementOf(expr) {
  // The statement of `a = b = expr`: chained assignments up to an expression statement.
  let node = expr;
  while (node.parent && node.parent.kind === K.BinaryExpression
         && node.parent.operatorToken.kind === K.EqualsToken && node.parent.right === node) {
    node = node.parent;
  }
  if (node.parent && node.parent.kind === K.ExpressionStatement) {
    return node.parent;
  }
  if (node.parent && node.parent.kind === K.VariableDeclaration) {
    return node.parent.parent.parent; // the variable statement
  }
  return null;
}

function moduleLevelObject(obj) {
  // An object literal assigned at module level: `var x = {...}`, `module.exports = {...}`,
  // `a.b = {...}`, or the second argument of a module-level `Object.assign(x, {...})`.
  const parent = obj.parent;
  if (!parent) return false;
  if (parent.kind === K.VariableDeclaration || (parent.kind === K.BinaryExpression
      && parent.operatorToken.kind === K.EqualsToken && parent.right === obj)) {
    const stmt = topStatementOf(obj);
    return stmt !== null && isModuleLevel(stmt);
  }
  if (parent.kind === K.CallExpression && parent.expression.getText() === "Object.assign"
      && parent.arguments.indexOf(obj) > 0 && parent.parent.kind === K.ExpressionStatement) {
    return isModuleLevel(parent.parent);
  }
  return false;
}

function nameOf(fn) {
  // The name a function-like node is defined under, or null (anonymous: a callback).
  const parent = fn.parent;
  switch (fn.kind) {
    case K.FunctionDeclaration:
      return fn.name ? fn.name.text : null;
    case K.Constructor:
      return "constructor";
    case K.MethodDeclaration:
    case K.GetAccessor:
    case K.SetAccessor:
      if (parent.kind === K.ObjectLiteralExpression && !moduleLevelObject(parent)) return null;
      return fn.name && (ts.isIdentifier(fn.name) || ts.isPrivateIdentifier(fn.name)
                         || ts.isStringLiteral(fn.name)) ? fn.name.text : null;
    default:
      break;
  }
  if (!FUNCTIONS.has(fn.kind)) return null;
  if (parent.kind === K.PropertyDeclaration && parent.initializer === fn) {
    return ts.isIdentifier(parent.name) || ts.isPrivateIdentifier(parent.name)
      ? parent.name.text : null;
  }
  if (parent.kind === K.VariableDeclaration && parent.initializer === fn
      && ts.isIdentifier(parent.name)) {
    const stmt = parent.parent.parent;
    return isModuleLevel(stmt) ? parent.name.text : null;
  }
  if (parent.kind === K.PropertyAssignment && parent.initializer === fn
      && moduleLevelObject(parent.parent)) {
    return ts.isIdentifier(parent.name) || ts.isStringLiteral(parent.name)
      ? parent.name.text : null;
  }
  if (parent.kind === K.BinaryExpression && parent.right === fn
      && parent.operatorToken.kind === K.EqualsToken) {
    const stmt = topStatementOf(fn);
    if (stmt === null || !isModuleLevel(stmt)) return null;
    const left = parent.left;
    if (ts.isPropertyAccessExpression(left)) {
      const text = left.getText().replace(/\s+/g, "");
      return text === "module.exports" ? "default" : left.name.text;
    }
  }
  return null;
}

function position(sf, pos) {
  const lc = sf.getLineAndCharacterOfPosition(pos);
  return [lc.line + 1, lc.character + 1];
}

function callerOf(call) {
  // The innermost enclosing named definition: a named function (see nameOf), a class, or a
  // file-level variable (for the functions in its initialiser that have no name of their
  // own); anonymous functions are part of theirs. `inFunction`: the call is in a function.
  let inFunction = false;
  for (let node = call.parent; node; node = node.parent) {
    let name = null;
    if (FUNCTION_LIKE.has(node.kind)) {
      inFunction = true;
      name = nameOf(node);
    } else if ((node.kind === K.ClassDeclaration || node.kind === K.ClassExpression)
               && node.name) {
      name = node.name.text;
    } else if (node.kind === K.VariableDeclaration && ts.isIdentifier(node.name)
               && isModuleLevel(node.parent.parent)) {
      name = node.name.text;
    }
    if (name !== null) {
      const sf = node.getSourceFile();
      const [line] = position(sf, node.getStart(sf));
      return { inFunction, name, line, end_line: position(sf, node.end)[0] };
    }
  }
  return { inFunction, name: null, line: 0, end_line: 0 };
}

function calleeName(call) {
  const callee = call.expression;
  if (!callee) return null;
  if (ts.isIdentifier(callee) || ts.isPrivateIdentifier(callee)) return callee;
  if (ts.isPropertyAccessExpression(callee)) return callee.name;
  if (callee.kind === K.SuperKeyword) return callee;
  return null;
}

function declarationAt(sf, start) {
  // The declaration whose name starts at `start` in `sf`.
  let found = null;
  function visit(node) {
    if (found || start < node.pos || start >= node.end) return;
    const keyword = node.kind === K.Constructor
      ? node.getChildren(sf).find((c) => c.kind === K.ConstructorKeyword) : null;
    if ((node.name && node.name.getStart(sf) === start)
        || (keyword && keyword.getStart(sf) === start)) {
      found = node;
      return;
    }
    ts.forEachChild(node, visit);
  }
  visit(sf);
  return found;
}

function definitionKind(decl) {
  if (!decl) return "unknown";
  let kind = K[decl.kind];
  const init = decl.initializer;
  if (init && (FUNCTIONS.has(init.kind) || init.kind === K.ClassExpression)) kind += ":function";
  if (decl.kind === K.VariableDeclaration) {
    const stmt = decl.parent && decl.parent.parent;
    if (stmt && !isModuleLevel(stmt)) kind += ":local";
  }
  if ((decl.kind === K.FunctionDeclaration || decl.kind === K.MethodDeclaration) && !decl.body) {
    kind += ":signature";
  }
  if (decl.kind === K.PropertyAccessExpression || decl.kind === K.BinaryExpression) {
    // a JS expando assignment `a.b = value`
    let assign = decl;
    while (assign && assign.kind !== K.BinaryExpression) assign = assign.parent;
    if (assign && assign.right && FUNCTIONS.has(assign.right.kind)) kind += ":function";
  }
  return kind;
}

function implementationOf(decl) {
  // An overload signature -> the implementation that follows it (same name and parent).
  if (!decl || decl.body || !decl.name || !decl.parent) return decl;
  const siblings = decl.parent.statements || decl.parent.members || [];
  for (const other of siblings) {
    if (other.kind === decl.kind && other.body && other.name
        && other.name.getText() === decl.name.getText()) {
      return other;
    }
  }
  return decl;
}

let sites = 0;
for (const file of files) {
  const sf = program.getSourceFile(file);
  if (!sf) continue;
  const rel = path.relative(rootAbs, file);
  const visit = (node) => {
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const nameNode = calleeName(node);
      const caller = nameNode ? callerOf(node) : null;
      if (nameNode && caller.inFunction) {
        const [line] = position(sf, node.getStart(sf));
        const at = nameNode.getStart(sf);
        const defs = [];
        for (const d of service.getDefinitionAtPosition(file, at) || []) {
          const inside = inRepo.has(path.resolve(d.fileName));
          const entry = { file: inside ? path.relative(rootAbs, d.fileName) : null,
                          name: d.name, kind: d.kind, container: d.containerName };
          if (inside) {
            const target = program.getSourceFile(d.fileName);
            let decl = declarationAt(target, d.textSpan.start);
            decl = implementationOf(decl);
            entry.decl = definitionKind(decl);
            if (d.kind === "alias") entry.decl = "alias";
            const start = decl && decl.name ? decl.name.getStart(target) : d.textSpan.start;
            [entry.line, entry.col] = position(target, start);
          } else {
            entry.lib = path.basename(d.fileName);
          }
          defs.push(entry);
        }
        const name = nameNode.kind === K.SuperKeyword ? "super" : nameNode.text;
        process.stdout.write(JSON.stringify({
          file: rel, line, name, caller: caller.name, caller_line: caller.line,
          caller_end: caller.end_line, defs,
        }) + "\n");
        sites += 1;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
process.stderr.write(`${sites} call sites in ${files.length} files\n`);
