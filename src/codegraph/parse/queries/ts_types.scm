; TypeScript class fields and interface properties, for langs/js_types.py.
(public_field_definition) @field
(interface_body (property_signature) @field)
(type_alias_declaration value: (object_type (property_signature) @field))
