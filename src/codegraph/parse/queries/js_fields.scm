; JavaScript class fields, for langs/js_types.py.
(field_definition) @field
