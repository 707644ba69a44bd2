"""Ruby and PHP: definitions, requires/use statements, mixins/traits, receiver calls."""

from __future__ import annotations

import pytest

from codegraph.graph.build import Graph, build_graph
from codegraph.graph.model import EdgeKind
from codegraph.parse.extract import extract
from helpers import module_imports
from helpers import out_edges as edges

SHAPES_RB = b"""\
require 'json'
require_relative 'shapes/base'

# Geometry helpers.
# Second line.
module Shapes
  # Default scale.
  SCALE = 2

  # A circle.
  class Circle < Base
    include Comparable
    include Shapes::Drawable
    attr_reader :r

    def initialize(r)
      @r = r
    end

    # Builds one.
    def self.build(r) = new(r)

    def area
      describe()
      self.scale(@r)
      JSON.generate({})
      Square.new.area
      puts "x"
    end
  end
end

def main
  Shapes::Circle.build(1).area
end
"""
BASE_RB = b"""\
module Shapes
  module Drawable
    def draw; end
  end

  class Base
    def describe; end
    def scale(v) = v
  end

  class Square < Base
    def area = 1
  end
end
"""

CIRCLE_PHP = b"""\
<?php
namespace App\\Models;

use App\\Util\\Helper;
use App\\Util\\{Loggable, Shape as ShapeContract};
use Vendor\\Lib\\Thing;

require_once __DIR__ . '/../bootstrap.php';

/**
 * A circle.
 */
class Circle extends Base implements ShapeContract
{
    use Loggable;

    const SIDES = 0;

    public function __construct(float $r)
    {
        parent::__construct();
    }

    /** Area of the circle. */
    public function area(): float
    {
        $this->log("area");
        Helper::round(1.5);
        $s = new Square();
        Thing::make();
        \\App\\Util\\format("x");
        strlen("abc");
        return scale(self::SIDES);
    }
}

function scale(float $v): float { return $v; }
"""
BASE_PHP = b"""\
<?php
namespace App\\Models;

abstract class Base
{
    public function __construct() {}
}

class Square extends Base {}
"""
HELPER_PHP = b"""\
<?php
namespace App\\Util;

interface Shape { public function area(): float; }

trait Loggable { public function log(string $m): void {} }

enum Suit { case Hearts; }

final class Helper
{
    public static function round(float $v): float { return $v; }
}

function format(string $s): string { return $s; }
"""
BOOTSTRAP_PHP = b"<?php\nconst VERSION = '1';\n"


@pytest.fixture(scope="module")
def ruby() -> Graph:
    return build_graph("repo", {"lib/shapes.rb": SHAPES_RB, "lib/shapes/base.rb": BASE_RB})


@pytest.fixture(scope="module")
def php() -> Graph:
    return build_graph("repo", {"src/Models/Circle.php": CIRCLE_PHP,
                                "src/Models/Base.php": BASE_PHP,
                                "src/Util/Helper.php": HELPER_PHP,
                                "src/bootstrap.php": BOOTSTRAP_PHP})


# -- Ruby ------------------------------------------------------------------------------
def test_ruby_definitions(ruby: Graph) -> None:
    shapes = next(n for n in ruby.nodes.values()
                  if n.qualified_name == "Shapes" and n.path == "lib/shapes.rb")
    assert (shapes.kind, shapes.line, shapes.doc) == ("namespace", 6,
                                                      "Geometry helpers.\nSecond line.")
    circle = ruby.named("Shapes::Circle")
    assert (circle.kind, circle.line, circle.doc) == ("class", 11, "A circle.")
    assert circle.signature == "class Circle < Base"
    scale = ruby.named("Shapes::SCALE")
    assert (scale.kind, scale.doc) == ("constant", "Default scale.")
    assert ruby.named("Shapes::Circle::initialize").kind == "constructor"
    build = ruby.named("Shapes::Circle::build")
    assert (build.kind, build.line, build.doc) == ("method", 21, "Builds one.")
    assert ruby.named("Shapes::Drawable").kind == "namespace"
    assert ruby.named("Shapes::Drawable::draw").kind == "method"
    assert ruby.named("main").kind == "function"


def test_ruby_resolution(ruby: Graph) -> None:
    assert edges(ruby, "Shapes::Circle", EdgeKind.INHERITS) == {
        "Shapes::Base": ("same_scope", 0.9)}
    assert edges(ruby, "Shapes::Circle", EdgeKind.IMPLEMENTS) == {
        "Comparable": ("external", 1.0),
        "Shapes::Drawable": ("import", 1.0),
    }
    assert edges(ruby, "Shapes::Circle::area", EdgeKind.CALLS) == {
        "Shapes::Base::describe": ("same_scope", 0.9),  # implicit self, inherited
        "Shapes::Base::scale": ("same_scope", 0.9),
        "JSON::generate": ("external", 1.0),
        "Shapes::Square": ("same_scope", 0.9),  # Square.new
        "Shapes::Square::area": ("name_match", 0.5),
        "puts": ("external", 1.0),
    }
    assert edges(ruby, "Shapes::Circle::build", EdgeKind.CALLS) == {
        "Shapes::Circle": ("same_scope", 0.9)}  # bare `new`
    assert edges(ruby, "main", EdgeKind.CALLS)["Shapes::Circle::build"] == ("import", 1.0)
    assert module_imports(ruby, "lib/shapes.rb") == {
        "json": ("external", 1.0),
        "lib/shapes/base.rb": ("import", 1.0),
    }


def test_ruby_requires_and_declarative_calls() -> None:
    facts = extract(b"require 'a/b'\nrequire_relative \"../c\"\nrequire \"#{x}/d\"\n"
                    b"class K\n  attr_accessor :v\n  include M\nend\n", "ruby")
    assert [(i.module, i.level, i.kind) for i in facts.imports] == [
        ("a/b", 0, "require"), ("../c", 1, "require")]
    assert facts.calls == []
    assert [(r.kind, r.name) for r in facts.references] == [("implements", "M")]


# -- PHP -------------------------------------------------------------------------------
def test_php_definitions(php: Graph) -> None:
    circle = php.named("App\\Models::Circle")
    assert (circle.kind, circle.line, circle.doc) == ("class", 13, "A circle.")
    assert circle.signature == "class Circle extends Base implements ShapeContract"
    area = php.named("App\\Models::Circle::area")
    assert (area.kind, area.line, area.doc) == ("method", 25, "Area of the circle.")
    assert area.signature == "public function area(): float"
    assert php.named("App\\Models::Circle::__construct").kind == "constructor"
    assert php.named("App\\Models::Circle::SIDES").kind == "constant"
    assert php.named("App\\Models::scale").kind == "function"
    assert php.named("App\\Util::Shape").kind == "interface"
    assert php.named("App\\Util::Loggable").kind == "trait"
    assert php.named("App\\Util::Suit").kind == "enum"
    assert php.named("VERSION").kind == "constant"  # no namespace: global


def test_php_resolution(php: Graph) -> None:
    assert edges(php, "App\\Models::Circle", EdgeKind.INHERITS) == {
        "App\\Models::Base": ("same_scope", 0.9)}
    assert edges(php, "App\\Models::Circle", EdgeKind.IMPLEMENTS) == {
        "App\\Util::Shape": ("import", 1.0),  # aliased use
        "App\\Util::Loggable": ("import", 1.0),  # trait
    }
    assert edges(php, "App\\Models::Circle::__construct", EdgeKind.CALLS) == {
        "App\\Models::Base::__construct": ("same_scope", 0.9)}
    assert edges(php, "App\\Models::Circle::area", EdgeKind.CALLS) == {
        "App\\Util::Loggable::log": ("same_scope", 0.9),  # $this-> through the trait
        "App\\Util::Helper::round": ("import", 1.0),
        "App\\Models::Square": ("same_scope", 0.9),
        "Vendor\\Lib\\Thing::make": ("external", 1.0),
        "App\\Util::format": ("import", 1.0),
        "strlen": ("external", 1.0),
        "App\\Models::scale": ("same_scope", 0.9),
    }
    assert module_imports(php, "src/Models/Circle.php") == {
        "App\\Util::Helper": ("import", 1.0),
        "App\\Util::Loggable": ("import", 1.0),
        "App\\Util::Shape": ("import", 1.0),
        "Vendor\\Lib\\Thing": ("external", 1.0),
        "src/bootstrap.php": ("import", 1.0),
    }


def test_syntax_errors_keep_what_parses() -> None:
    for language, src in (("ruby", b"def ok; end\ndef broken(\n"),
                          ("php", b"<?php\nfunction ok() {}\nfunction broken( {\n")):
        facts = extract(src, language)
        assert facts.error_lines
        assert "ok" in [d.name for d in facts.definitions]
