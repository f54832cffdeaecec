"""Import spandrel, also where torchvision cannot be imported.

spandrel imports torchvision at import time for two architectures only (LaMa inpainting and
RestoreFormer face restoration), neither an upscaler. torchvision's PyPI wheels are CUDA builds tied
to one torch release, and beside a CPU-only torch build (`torch==2.13.0+cpu`) they fail to import
("operator torchvision::nms does not exist"). Where torchvision is missing or broken, spandrel is
imported with a stand-in torchvision whose functions raise when called; the stand-in is removed from
`sys.modules` right after, so no other code sees it. Those two architectures are refused anyway
(see foreign.py), so nothing ever calls it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from functools import cache
from typing import Any

from ..errors import DependencyError

INSTALL_HINT = (
    "install it with `pip install 'repsr-video[interop]'`, or beside a CPU-only torch build "
    "`pip install --no-deps 'spandrel>=0.4.2,<0.5' && pip install einops`"
)


class _Unavailable:
    """Stands in for any torchvision attribute; using it says why."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise DependencyError(f"{self._name} needs torchvision, which does not import beside this torch build")

    def __getattr__(self, name: str) -> _Unavailable:
        return _Unavailable(f"{self._name}.{name}")


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers every `torchvision` / `torchvision.*` import with a stub package."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's protocol
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):  # noqa: ANN001
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:  # noqa: ANN001
        pass


def _torchvision_imports() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - a CUDA wheel beside CPU torch raises RuntimeError, not ImportError
        return False
    return True


def _import_with_stub() -> types.ModuleType:
    finder = _StubFinder()
    # a broken torchvision leaves some submodules behind: hide them during the import, then restore
    stale = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "torchvision"}
    sys.meta_path.insert(0, finder)
    try:
        import spandrel
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n, m in sys.modules.items() if isinstance(m, _StubModule)]:
            del sys.modules[name]
        sys.modules.update(stale)
    return spandrel


@cache
def spandrel_module() -> types.ModuleType:
    """The spandrel package; DependencyError (with the install command) where it is missing."""
    if importlib.util.find_spec("spandrel") is None:
        raise DependencyError(f"this needs spandrel, which is not installed; {INSTALL_HINT}")
    try:
        if _torchvision_imports():
            import spandrel

            return spandrel
        return _import_with_stub()
    except ImportError as error:
        raise DependencyError(f"spandrel does not import ({error}); {INSTALL_HINT}") from None


def spandrel_version() -> str:
    return str(spandrel_module().__version__)
