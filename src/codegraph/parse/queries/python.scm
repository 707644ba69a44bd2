; Definitions
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement (assignment left: (identifier) @name) @definition.variable))
(module (expression_statement (assignment left: (identifier) @name type: (type)) @definition.variable))
(class_definition body: (block (expression_statement (assignment left: (identifier) @name) @definition.variable)))

; Calls
(call function: (identifier) @name) @reference.call
(call function: (attribute object: (_) @receiver attribute: (identifier) @name)) @reference.call

; Inheritance
(class_definition superclasses: (argument_list (identifier) @reference.inherits))
(class_definition superclasses: (argument_list (attribute) @reference.inherits))

; Other uses: type annotations and decorators
(type (identifier) @reference.use)
(type (attribute) @reference.use)
(type (generic_type (identifier) @reference.use))
(decorator (identifier) @reference.use)
(decorator (attribute) @reference.use)

; Imports
(import_statement) @import
(import_from_statement) @import
