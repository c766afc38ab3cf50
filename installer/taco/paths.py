"""Where taco finds its Ansible content and keeps its state."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_state_dir

from taco.errors import TacoError


def content_root() -> Path:
    """The tree holding playbooks/ and roles/ (the checkout taco runs from).

    TACO_CONTENT_DIR overrides it, for a packaged install that ships the content apart.
    """
    override = os.environ.get("TACO_CONTENT_DIR")
    candidates = [Path(override)] if override else list(Path(__file__).resolve().parents)
    for candidate in candidates:
        if (candidate / "playbooks" / "site.yml").is_file():
            return candidate
    raise TacoError(
        "cannot find taco's playbooks (playbooks/site.yml); "
        "set TACO_CONTENT_DIR to the directory that holds playbooks/ and roles/"
    )


def playbook_dir() -> Path:
    return content_root() / "playbooks"


def state_dir() -> Path:
    """Run records and labs live here unless TACO_STATE_DIR says otherwise."""
    return Path(os.environ.get("TACO_STATE_DIR") or user_state_dir("taco"))
