"""Load a role's Python (modules, filter plugins, module_utils) from its file, as Ansible would."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType


def load_module(path: Path, name: str) -> ModuleType:
    """Import `path` as module `name`; registered in sys.modules so later imports resolve to it
    (a module_utils file under its ansible.module_utils name, as Ansible's bundler puts it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
