"""Shell completion for bash, zsh and fish, by argcomplete: the script that ``codegraph
completion SHELL`` prints registers ``codegraph`` with the shell, which then runs
``codegraph`` with ``_ARGCOMPLETE`` set on each Tab; :func:`complete` answers from the parser
(commands, options, choices) and exits."""

from __future__ import annotations

import argparse

PROGRAM = "codegraph"


def script(shell: str) -> str:
    """The completion script of ``shell`` (bash, zsh or fish)."""
    from argcomplete.shell_integration import shellcode

    text: str = shellcode([PROGRAM], shell=shell)
    return text


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's request for completions and exit (argcomplete's protocol)."""
    import argcomplete

    argcomplete.autocomplete(parser)
