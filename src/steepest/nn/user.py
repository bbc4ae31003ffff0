"""A user's own network named in an experiment file instead of ``[model]``'s MLP or CNN:

    [model]
    module = "nets.py:MyNet"          # a file, relative to the experiment file
    module = "mypackage.nets:make"    # or an importable module

The name after the colon is any callable returning a fresh, initialised nn.Module (a
class with default arguments will do); it plays the part of `steepest.train`'s
``model=`` argument.
"""

import importlib
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from torch import nn

from steepest.errors import UserError, first_line


@cache
def network_from(spec: str) -> Callable[[], nn.Module]:
    """The callable `spec` ("FILE.py:NAME" or "package.module:NAME") names. Cached: one
    import per process, so every member of a run builds the same class."""
    location, _, name = spec.rpartition(":")
    where = f"[model] module = {spec!r}"
    try:
        if location.endswith(".py"):
            if not Path(location).is_file():
                raise UserError(f"{where}: no such file")
            loaded = importlib.util.spec_from_file_location(f"steepest_user.{name}", location)
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except UserError:
        raise
    except Exception as error:  # the user's code: whatever fails is their input's
        hint = ""
        if isinstance(error, ModuleNotFoundError) and location.split(".")[0] == error.name:
            hint = "; a package must be installed or on PYTHONPATH, or name its file.py"
        raise UserError(f"{where}: importing it failed ({first_line(error)}){hint}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UserError(f"{where}: {location} has no callable {name!r}")
    return factory


def network_factory(model: Any) -> Callable[[], nn.Module] | None:
    """`model=` as `steepest.train`, `tune` and `load` take it: None, or a function that
    builds a fresh network. A module instance is refused: each member needs its own,
    initialised from its own seed."""
    if model is None:
        return None
    if isinstance(model, nn.Module):
        name = type(model).__name__
        raise UserError(
            f"model=: a {name} instance; pass the function that builds one (its class, or "
            f"a factory such as lambda: {name}(...)), which each member calls"
        )
    if not callable(model):
        raise UserError(f"model=: {model!r} is not callable; pass the function that builds it")
    return model
