"""rawcolour: camera data to pictures with learned models (colourisation GAN, saliency RAW-to-RGB GAN).

The Python API is re-exported here: ``load_model``, ``raw_to_rgb``, ``colourise_image``,
``read_image``, ``write_image`` (with ``InferenceOptions`` and ``from_float``, which using them
needs). They load on first use, so ``import rawcolour`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    "load_model": "rawcolour.checkpoint",
    "raw_to_rgb": "rawcolour.inference.pipelines",
    "colourise_image": "rawcolour.inference.pipelines",
    "InferenceOptions": "rawcolour.inference.options",
    "read_image": "rawcolour.io.images",
    "write_image": "rawcolour.io.images",
    "from_float": "rawcolour.io.pixels",
}

__all__ = ["__version__", *_API]


def lazy_api(namespace: dict[str, Any], api: dict[str, str]) -> tuple[Any, Any]:
    """``__getattr__`` and ``__dir__`` for a package whose names (``api``: name -> defining module)
    import their module on first use (PEP 562), so importing the package stays light."""

    def __getattr__(name: str) -> Any:
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(api))

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_api(globals(), _API)
