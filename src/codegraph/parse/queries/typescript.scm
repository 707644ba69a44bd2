; TypeScript (TSX reads it too, then tsx.scm, which adds JSX). Top-level variable declarators
; are captured as variables; the hook (langs/javascript.py) re-kinds them by value
; (function, class, constant), drops `require` bindings, marks exports, keeps one
; definition per overloaded function and drops type-parameter names
; (@reference.typeparam) from the type uses.

; Definitions
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(type_alias_declaration name: (type_identifier) @name) @definition.type_alias
(internal_module name: [(identifier) (nested_identifier)] @name) @definition.namespace
(module name: [(identifier) (nested_identifier)] @name) @definition.namespace
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(function_signature name: (identifier) @name) @definition.function
(class_body
  [(method_definition name: [(property_identifier) (private_property_identifier)] @name)
   (method_signature name: [(property_identifier) (private_property_identifier)] @name)
   (abstract_method_signature name: [(property_identifier) (private_property_identifier)] @name)
  ] @definition.function)
(class_body
  (public_field_definition
    name: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.function)
(interface_body (method_signature name: (property_identifier) @name) @definition.function)
; an object type's methods (`type A = {f(): void}`): an interface's
(type_alias_declaration
  value: (object_type (method_signature name: (property_identifier) @name) @definition.function))
; Variables at file and namespace level (not locals)
(program
  [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (export_statement
     declaration: [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
                   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)])])
(internal_module body: (statement_block
  [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (export_statement
     declaration: [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
                   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)])]))
(module body: (statement_block
  [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (export_statement
     declaration: [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
                   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)])]))

; Definitions made by assignment at file level (the hook names and kinds them):
; `obj.f = function () {}`, `exports.f = ...`, `X.prototype.f = ...`, `module.exports = ...`,
; chains (`a.g = a.f = function f() {}`: the inner one), members of object literals
; (`const X = {f() {}}`, `module.exports = {f: function () {}}`, `Object.assign(p, {f() {}})`)
(program
  (expression_statement
    (assignment_expression
      left: (member_expression property: (property_identifier) @name)
      right: [(function_expression) (arrow_function) (generator_function) (class)]) @definition.function))
(program
  (expression_statement
    (assignment_expression
      right: (assignment_expression
        left: (member_expression property: (property_identifier) @name)
        right: [(function_expression) (arrow_function) (generator_function) (class)]) @definition.function)))
(program
  [(lexical_declaration (variable_declarator value: (object
     [(pair key: (property_identifier) @name
            value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
      (method_definition name: (property_identifier) @name) @definition.function])))
   (variable_declaration (variable_declarator value: (object
     [(pair key: (property_identifier) @name
            value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
      (method_definition name: (property_identifier) @name) @definition.function])))
   (export_statement declaration: [(lexical_declaration (variable_declarator value: (object
     [(pair key: (property_identifier) @name
            value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
      (method_definition name: (property_identifier) @name) @definition.function])))
     (variable_declaration (variable_declarator value: (object
     [(pair key: (property_identifier) @name
            value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
      (method_definition name: (property_identifier) @name) @definition.function])))])])
((program
  (expression_statement
    (assignment_expression
      left: (member_expression object: (identifier) @_module property: (property_identifier) @_exports)
      right: (object
        [(pair key: (property_identifier) @name
               value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
         (method_definition name: (property_identifier) @name) @definition.function]))))
  (#eq? @_module "module")
  (#eq? @_exports "exports"))
((program
  (expression_statement
    (call_expression
      function: (member_expression object: (identifier) @_object property: (property_identifier) @_assign)
      arguments: (arguments (object
        [(pair key: (property_identifier) @name
               value: [(function_expression) (arrow_function) (generator_function)]) @definition.function
         (method_definition name: (property_identifier) @name) @definition.function])))))
  (#eq? @_object "Object")
  (#eq? @_assign "assign"))

; Calls (`new C()` is a call to C)
(call_expression function: (identifier) @name) @reference.call
(call_expression
  function: (member_expression
    object: (_) @receiver
    property: [(property_identifier) (private_property_identifier)] @name)) @reference.call
(call_expression function: (super) @name) @reference.call
(new_expression constructor: (identifier) @name) @reference.call
(new_expression
  constructor: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call

; Inheritance
(extends_clause value: [(identifier) (member_expression)] @reference.inherits)
(extends_type_clause type: [(type_identifier) (nested_type_identifier)] @reference.inherits)
(extends_type_clause type: (generic_type name: (_) @reference.inherits))
(implements_clause [(type_identifier) (nested_type_identifier)] @reference.implements)
(implements_clause (generic_type name: (_) @reference.implements))

; Other uses: decorators and type names in annotations, type arguments and aliases
(decorator [(identifier) (member_expression)] @reference.use)
(type_annotation [(type_identifier) (nested_type_identifier)] @reference.use)
(type_annotation (generic_type name: (_) @reference.use))
(type_annotation
  [(array_type (type_identifier) @reference.use)
   (array_type (generic_type name: (_) @reference.use))
   (union_type (type_identifier) @reference.use)
   (union_type (generic_type name: (_) @reference.use))])
(type_arguments [(type_identifier) (nested_type_identifier)] @reference.use)
(type_alias_declaration value: [(type_identifier) (nested_type_identifier)] @reference.use)
(type_alias_declaration value: (generic_type name: (_) @reference.use))
(type_alias_declaration value: (union_type (type_identifier) @reference.use))
(type_parameter name: (type_identifier) @reference.typeparam)

; Imports: ES imports, `import x = require()`, `export ... from`, CommonJS require
(import_statement) @import
(export_statement source: (_)) @import
([(lexical_declaration
    (variable_declarator
      value: [(call_expression function: (identifier) @_require)
              (member_expression object: (call_expression function: (identifier) @_require))]))
  (variable_declaration
    (variable_declarator
      value: [(call_expression function: (identifier) @_require)
              (member_expression object: (call_expression function: (identifier) @_require))]))] @import
  (#eq? @_require "require"))
((expression_statement (call_expression function: (identifier) @_require)) @import
  (#eq? @_require "require"))
