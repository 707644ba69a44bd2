; C#. A file-scoped namespace is the file's package; block namespaces are definitions.

; Definitions
(file_scoped_namespace_declaration name: (_) @package)
(namespace_declaration name: (_) @name) @definition.namespace
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.constructor
(field_declaration
  (modifier) @_const (#eq? @_const "const")
  (variable_declaration (variable_declarator name: (identifier) @name))) @definition.constant

; Calls and object creation
(invocation_expression function: (identifier) @name) @reference.call
(invocation_expression function: (generic_name (identifier) @name)) @reference.call
(invocation_expression
  function: (member_access_expression
    expression: _ @receiver name: (identifier) @name)) @reference.call
(invocation_expression
  function: (member_access_expression
    expression: _ @receiver name: (generic_name (identifier) @name))) @reference.call
(object_creation_expression type: (identifier) @name) @reference.call
(object_creation_expression type: (generic_name (identifier) @name)) @reference.call
(object_creation_expression
  type: (qualified_name qualifier: (_) @receiver name: (identifier) @name)) @reference.call

; Base types (langs/csharp.py turns interfaces into implements)
(base_list [(identifier) (qualified_name)] @reference.inherits)
(base_list (generic_name (identifier) @reference.inherits))

; Imports
(using_directive) @import
