; Ruby. `Foo.new` becomes a call to Foo in langs/ruby.py, which also drops declarative calls.

; Definitions
(module name: (_) @name) @definition.namespace
(class name: (_) @name) @definition.class
(method name: (_) @name) @definition.function
(singleton_method name: (_) @name) @definition.function
(assignment left: (constant) @name) @definition.constant

; Calls
(call receiver: (_) @receiver method: (identifier) @name) @reference.call
(call !receiver method: (identifier) @name) @reference.call

; Inheritance and mixins
(class superclass: (superclass [(constant) (scope_resolution)] @reference.inherits))
(call
  method: (identifier) @_mixin (#any-of? @_mixin "include" "extend" "prepend")
  arguments: (argument_list [(constant) (scope_resolution)] @reference.implements))

; Imports
(call
  method: (identifier) @_require (#any-of? @_require "require" "require_relative" "load")
  arguments: (argument_list . (string))) @import
