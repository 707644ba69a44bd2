; Package
(package_clause (package_identifier) @package)

; Definitions. Top-level type specs are all captured as type_alias; the Go hook turns
; struct and interface types into struct/interface. For `var a, b T` the first name takes
; the whole spec and later names their identifier (the hook re-parents and widens them).
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method
(source_file (type_declaration (type_spec name: (type_identifier) @name) @definition.type_alias))
(source_file (type_declaration (type_alias name: (type_identifier) @name) @definition.type_alias))
(source_file (type_declaration (type_spec type: (interface_type
  (method_elem name: (field_identifier) @name) @definition.method))))
(source_file (const_declaration (const_spec . name: (identifier) @name) @definition.constant))
(source_file (const_declaration (const_spec name: (identifier) name: (identifier) @name @definition.constant)))
(source_file (var_declaration (var_spec . name: (identifier) @name) @definition.variable))
(source_file (var_declaration (var_spec name: (identifier) name: (identifier) @name @definition.variable)))
(source_file (var_declaration (var_spec_list (var_spec . name: (identifier) @name) @definition.variable)))
(source_file (var_declaration (var_spec_list (var_spec name: (identifier) name: (identifier) @name @definition.variable))))

; Calls: f(), pkg.F(), x.M(), and generic instantiations F[T](x) / pkg.F[T](x)
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (selector_expression operand: (_) @receiver field: (field_identifier) @name)) @reference.call
(type_conversion_expression type: (generic_type type: (type_identifier) @name)) @reference.call
(type_conversion_expression type: (generic_type type: (qualified_type
  package: (package_identifier) @receiver name: (type_identifier) @name))) @reference.call

; Embedding: a struct or interface embedding another type
(field_declaration_list (field_declaration !name type: [(type_identifier) (qualified_type)] @reference.inherits))
(field_declaration_list (field_declaration !name type: (generic_type type: [(type_identifier) (qualified_type)] @reference.inherits)))
(interface_type (type_elem . [(type_identifier) (qualified_type)] @reference.inherits .))
(interface_type (type_elem . (generic_type type: [(type_identifier) (qualified_type)] @reference.inherits) .))

; Other uses: composite literals T{...} / pkg.T{...}
(composite_literal type: [(type_identifier) (qualified_type)] @reference.use)
(composite_literal type: (generic_type type: [(type_identifier) (qualified_type)] @reference.use))

; Imports: one capture per import spec
(import_spec) @import
