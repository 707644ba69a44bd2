; Package
(package_declaration [(identifier) (scoped_identifier)] @package)

; Types
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum

; Members
(method_declaration name: (identifier) @name) @definition.method
(annotation_type_element_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.constructor
(compact_constructor_declaration name: (identifier) @name) @definition.constructor
(enum_body (enum_constant name: (identifier) @name) @definition.constant)

; `static final` fields are constants (other fields are not definitions). The first
; declarator takes the whole declaration, later ones their declarator (the hook re-parents).
((field_declaration (modifiers) @mods type: (_) . declarator: (variable_declarator
   name: (identifier) @name)) @definition.constant
 (#match? @mods "(^|[^A-Za-z0-9_])static([^A-Za-z0-9_]|$)")
 (#match? @mods "(^|[^A-Za-z0-9_])final([^A-Za-z0-9_]|$)"))
((field_declaration (modifiers) @mods (variable_declarator)
   (variable_declarator name: (identifier) @name) @definition.constant)
 (#match? @mods "(^|[^A-Za-z0-9_])static([^A-Za-z0-9_]|$)")
 (#match? @mods "(^|[^A-Za-z0-9_])final([^A-Za-z0-9_]|$)"))
; Interface fields are implicitly static final.
(constant_declaration type: (_) . declarator: (variable_declarator
   name: (identifier) @name)) @definition.constant
(constant_declaration (variable_declarator)
   (variable_declarator name: (identifier) @name) @definition.constant)

; Calls: m(), x.m(), new Foo(), new a.b.Foo(), super(...) / this(...)
(method_invocation !object name: (identifier) @name) @reference.call
(method_invocation object: (_) @receiver name: (identifier) @name) @reference.call
(object_creation_expression type: (type_identifier) @name) @reference.call
(object_creation_expression type: (generic_type . (type_identifier) @name)) @reference.call
(object_creation_expression type: (scoped_type_identifier
   (_) @receiver . (type_identifier) @name .)) @reference.call
(object_creation_expression type: (generic_type . (scoped_type_identifier
   (_) @receiver . (type_identifier) @name .))) @reference.call
(explicit_constructor_invocation constructor: [(this) (super)] @name) @reference.call

; Inheritance
(superclass [(type_identifier) (scoped_type_identifier)] @reference.inherits)
(superclass (generic_type . [(type_identifier) (scoped_type_identifier)] @reference.inherits))
(super_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.implements))
(super_interfaces (type_list (generic_type . [(type_identifier) (scoped_type_identifier)] @reference.implements)))
(extends_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.inherits))
(extends_interfaces (type_list (generic_type . [(type_identifier) (scoped_type_identifier)] @reference.inherits)))

; Other uses: annotations
(marker_annotation name: [(identifier) (scoped_identifier)] @reference.use)
(annotation name: [(identifier) (scoped_identifier)] @reference.use)

; Imports
(import_declaration) @import
