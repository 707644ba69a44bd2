"""Print the standard library's source files that CodeGraph's modules import, one per line.

    python stdlib-imports.py > list   (in the builder, with the app and its dependencies)

The runtime image compiles just these to bytecode: Debian's python debs, and so distroless,
ship no .pyc, and compiling the whole standard library would add 12 MB for modules nothing
imports. A module missing from the list still imports; it is compiled in memory each start.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import sysconfig

import codegraph

ALSO = ("uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
        "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on", "redis.asyncio",
        "faiss", "onnxruntime", "tokenizers", "numpy")

for info in pkgutil.walk_packages(codegraph.__path__, "codegraph."):
    if info.name.rpartition(".")[2] != "__main__":  # (importing it runs the command line)
        importlib.import_module(info.name)
for name in ALSO:
    importlib.import_module(name)

stdlib = sysconfig.get_paths()["stdlib"] + "/"
paths = sorted({path for module in list(sys.modules.values())
                if (path := getattr(module, "__file__", None) or "").startswith(stdlib)
                and path.endswith(".py")})
if not paths:
    sys.exit(f"no standard library module imported from {stdlib}")
print("\n".join(paths))
