; TypeScript class fields, for langs/js_types.py.
(public_field_definition) @field
