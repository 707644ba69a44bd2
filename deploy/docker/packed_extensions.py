"""Import extension modules that the image stores zlib-compressed, as ``NAME<suffix>.z``.

Installed by pack_site.py as ``_packed_extensions``, with a .pth file that imports it, so
``site`` puts the finder in place before anything imports an extension module. A packed
module is inflated into an anonymous memory file (memfd) and loaded from
``/proc/self/fd/N``: nothing is written to disk, so it works on a read-only root filesystem
and with a ``noexec`` /tmp. The memory file holds the module's code as the page cache would
hold the file, but all of it, for as long as the process runs.

Only plain extension modules are packed (no RPATH, no sibling libraries), so a module loaded
this way finds its dependencies exactly as it would from its own directory.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Sequence
from importlib.machinery import ExtensionFileLoader, ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Loader, MetaPathFinder
else:  # importlib.abc imports importlib.resources: 60 ms at every start, for two names
    Loader = MetaPathFinder = object

PACKED = ".z"
MANIFEST = "_packed_extensions.txt"


class PackedExtensionLoader(Loader):
    def __init__(self, fullname: str, packed: str) -> None:
        self.name = fullname
        self.packed = packed
        self._inner: ExtensionFileLoader | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        with open(self.packed, "rb") as f:
            code = zlib.decompress(f.read())
        # The descriptor stays open for the life of the process: the dynamic loader tells
        # libraries apart by path, and a closed descriptor's number would name the next one.
        fd = os.memfd_create(os.path.basename(self.packed)[:-len(PACKED)], os.MFD_CLOEXEC)
        try:
            view = memoryview(code)
            while view:
                view = view[os.write(fd, view):]
            self._inner = ExtensionFileLoader(self.name, f"/proc/self/fd/{fd}")
            module = self._inner.create_module(ModuleSpec(self.name, self._inner,
                                                          origin=self._inner.path))
            module.__file__ = spec.origin  # not the descriptor's name
        except OSError as exc:
            os.close(fd)
            raise ImportError(f"cannot load packed extension module {self.packed}: {exc}",
                              name=self.name, path=self.packed) from exc
        return module

    def exec_module(self, module: ModuleType) -> None:
        assert self._inner is not None, "create_module runs first"
        self._inner.exec_module(module)


class PackedExtensionFinder(MetaPathFinder):
    """Finds the modules pack_site.py listed in MANIFEST ("module.name relative/path.so" per
    line). First on sys.meta_path, so a directory of the same name (of type stubs, say) is
    no rival."""

    def __init__(self, packed: dict[str, str]) -> None:
        self.packed = packed

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        origin = self.packed.get(fullname)
        if origin is None:
            return None
        spec = ModuleSpec(fullname, PackedExtensionLoader(fullname, origin + PACKED),
                          origin=origin)
        spec.has_location = True  # __file__: where the module would be unpacked
        return spec


def install() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, MANIFEST), encoding="utf-8") as f:
        packed = dict(line.split() for line in f if line.strip())
    if not any(isinstance(f, PackedExtensionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PackedExtensionFinder(
            {name: os.path.join(here, rel) for name, rel in packed.items()}))


install()
