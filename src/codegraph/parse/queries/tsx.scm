; TSX: read after typescript.scm (see languages.py), adding JSX component uses.

; JSX components (lower-case tags are HTML elements)
((jsx_opening_element name: (identifier) @reference.use) (#match? @reference.use "^[A-Z]"))
((jsx_self_closing_element name: (identifier) @reference.use) (#match? @reference.use "^[A-Z]"))
(jsx_opening_element name: (member_expression) @reference.use)
(jsx_self_closing_element name: (member_expression) @reference.use)
