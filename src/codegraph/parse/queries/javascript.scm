; JavaScript (and JSX). Top-level variable declarators are captured as variables;
; the hook (langs/javascript.py) re-kinds them by value (function, class, constant),
; drops `require` bindings and marks exports.

; Definitions
(class_declaration name: (identifier) @name) @definition.class
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier)] @name) @definition.function)
(class_body
  (field_definition
    property: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.function)
(program
  [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
   (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)])
(program
  (export_statement
    declaration: [(lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)
                  (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable)]))
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
(class_heritage [(identifier) (member_expression)] @reference.inherits)

; Other uses: decorators and JSX components
(decorator [(identifier) (member_expression)] @reference.use)
((jsx_opening_element name: (identifier) @reference.use) (#match? @reference.use "^[A-Z]"))
((jsx_self_closing_element name: (identifier) @reference.use) (#match? @reference.use "^[A-Z]"))
(jsx_opening_element name: (member_expression) @reference.use)
(jsx_self_closing_element name: (member_expression) @reference.use)

; Imports: ES imports, `export ... from`, CommonJS require
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
