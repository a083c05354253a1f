"""reportgen: train a regularization study and write a report people can trust.

The Python API (reportgen.api): load_study, build (a Result: page one inline in a notebook, .claims and .runs as
DataFrames), load, render, compare. Importing reportgen imports none of it until first used.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = [
    "Comparison",
    "ConfigError",
    "ReportgenError",
    "Result",
    "StudyConfig",
    "__version__",
    "build",
    "compare",
    "judge",
    "load",
    "load_study",
    "render",
]

if TYPE_CHECKING:
    from reportgen.api import Comparison, Result, build, compare, judge, load, load_study, render
    from reportgen.config import StudyConfig
    from reportgen.errors import ConfigError, ReportgenError

_WHERE = {
    "Comparison": "reportgen.api",
    "Result": "reportgen.api",
    "build": "reportgen.api",
    "compare": "reportgen.api",
    "judge": "reportgen.api",
    "load": "reportgen.api",
    "load_study": "reportgen.api",
    "render": "reportgen.api",
    "StudyConfig": "reportgen.config",
    "ConfigError": "reportgen.errors",
    "ReportgenError": "reportgen.errors",
}


def __getattr__(name: str):
    """The API's names, imported when first used (the command line needs none of them: `import reportgen` stays light)."""
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package, whose API names stay the API's: importing the submodule reportgen.compare (the comparison of two
    builds, which reportgen.compare the function calls) would otherwise replace the function with the module. The
    module stays where imports find it: `from reportgen.compare import compare`, importlib.import_module."""

    def __setattr__(self, name: str, value) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
