; What langs/js_types.py reads to type names (JavaScript, TypeScript, TSX): parameters,
; variables, `this.x = ...` assignments and names bound by loops and catch clauses.
(formal_parameters) @params
(arrow_function parameter: (identifier) @param)
(variable_declarator) @declarator
(assignment_expression left: (member_expression object: (this))) @this_assignment
(for_in_statement left: [(identifier) (object_pattern) (array_pattern)] @bound)
(catch_clause parameter: [(identifier) (object_pattern) (array_pattern)] @bound)
