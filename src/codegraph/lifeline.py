"""Child processes that die with the process that started them.

A forked worker blocks on its task queue, and the other workers hold that queue's write
end too: if the indexer is killed (kill -9, the OOM killer), its workers would wait
forever, each holding its share of the parent's memory. On Linux the kernel kills them
instead (``PR_SET_PDEATHSIG``), the moment the thread that forked them ends; elsewhere this
does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Call first thing in a child forked by process ``parent`` (its pid, taken before the
    fork): the child is killed when the parent ends, or ends at once if it already has."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:  # the parent died before the call: no signal will come
        os._exit(1)
