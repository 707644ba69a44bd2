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

; Receiver types (langs/python.py add_facts): parameters and return annotations, and the
; assignments that give a name or a ``self`` attribute its type.
(function_definition) @fact.function
(assignment left: (identifier)) @fact.assign
(assignment left: (attribute object: (identifier) attribute: (identifier))) @fact.assign
(with_item value: (as_pattern alias: (as_pattern_target (identifier)))) @fact.with
(return_statement) @fact.return
; Other bindings of locals (they shadow an import of the same name): loop, comprehension
; and except targets, tuple unpacking.
(for_statement left: (_) @fact.bind)
(for_in_clause left: (_) @fact.bind)
(except_clause (as_pattern alias: (as_pattern_target) @fact.bind))
(assignment left: (pattern_list) @fact.bind)
(assignment left: (tuple_pattern) @fact.bind)
