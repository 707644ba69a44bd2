; PHP. Namespaces are the file's package; qualified calls are split in langs/php.py.

; Definitions
(namespace_definition name: (namespace_name) @package)
(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum
(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.function
(const_declaration (const_element (name) @name)) @definition.constant

; Calls and object creation
(function_call_expression function: [(name) (qualified_name)] @name) @reference.call
(member_call_expression object: (_) @receiver name: (name) @name) @reference.call
(nullsafe_member_call_expression object: (_) @receiver name: (name) @name) @reference.call
(scoped_call_expression scope: (_) @receiver name: (name) @name) @reference.call
(object_creation_expression [(name) (qualified_name)] @name) @reference.call

; Inheritance, interfaces and traits
(base_clause [(name) (qualified_name)] @reference.inherits)
(class_interface_clause [(name) (qualified_name)] @reference.implements)
(use_declaration [(name) (qualified_name)] @reference.implements)

; Imports
(namespace_use_declaration) @import
(expression_statement
  [(require_expression) (require_once_expression)
   (include_expression) (include_once_expression)] @import)
