"""``python -m codegraph.cli``: the ``codegraph`` command."""

from codegraph.cli.main import run

run()
