"""Suite-wide rules: skips are loud, and in CI (CODEGRAPH_STRICT_SKIPS=1) they fail the run."""

from __future__ import annotations

import os
import signal

import pytest

STRICT = os.environ.get("CODEGRAPH_STRICT_SKIPS") == "1"

# A shell starts a background job (`make test &`, a CI step run with `&`) with SIGINT
# ignored, and ignored signals pass on through exec: the CLI processes the tests interrupt
# with SIGINT would inherit that and never see it. Handled here, children start with the
# default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Tests index without embeddings (slow on 2 cores) unless a test asks for them; CLI
# subprocesses inherit this.
os.environ.setdefault("CODEGRAPH_EMBED", "0")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.section("SKIPPED TESTS", sep="!", bold=True, red=STRICT)
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            terminalreporter.write_line(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if STRICT and skipped and session.exitstatus == 0:
        session.exitstatus = 1
        if reporter:
            reporter.write_line(
                f"CODEGRAPH_STRICT_SKIPS=1: {len(skipped)} skipped test(s) fail this run",
                red=True)
