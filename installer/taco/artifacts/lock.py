"""The lock file: sha256 digests recorded for artifacts and images whose publisher gives none.

The manifest marks such a file `recorded` (an image simply has no `digests` entry).
`taco mirror sync DIR --record-digests` on a connected host downloads it once and
writes its digest here; every later sync
and every install verifies against that digest (trust on first use, then pinned).
Keep the lock file next to the site file, under version control, and review changes.
Files are under `digests:`, images under `images:` (reference -> "sha256:<hex>");
a lock written before images existed has no `images:` and reads as none recorded.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import ConfigDict, Field, StringConstraints

from taco.artifacts.manifest import (
    IMAGE_DIGEST,
    SHA256,
    Arch,
    Name,
    StrictData,
    Version,
    parse_document,
    read_text,
    validate_shape,
)

LOCK_FILENAME = "artifacts.lock.yml"
_HEADER = (
    "# Digests recorded by `taco mirror sync --record-digests` for artifacts whose\n"
    "# publisher gives no sha256 (marked `recorded` in the manifest) and for images\n"
    "# without a published digest (images:). Every later sync and every install verifies\n"
    "# against them. Review changes like code; to record a file or image again, delete\n"
    "# its entry and sync with --record-digests.\n"
)


class LockedDigest(StrictData):
    sha256: Annotated[str, StringConstraints(pattern=SHA256)]
    # Where the digest was taken from, and when: for the reviewer.
    url: str
    recorded: str


class Lock(StrictData):
    model_config = ConfigDict(extra="forbid", frozen=False, strict=True)

    schema_version: Literal[1] = Field(default=1, alias="schema")
    # name -> version -> arch -> digest
    digests: dict[Name, dict[Version, dict[Arch, LockedDigest]]] = Field(default_factory=dict)
    # normalised image reference without digest (registry/repository:tag) -> sha256:<hex>
    images: dict[Annotated[str, StringConstraints(min_length=1)],
                 Annotated[str, StringConstraints(pattern=IMAGE_DIGEST)]] = \
        Field(default_factory=dict)

    def digest(self, name: str, version: str, arch: str) -> str | None:
        entry = self.digests.get(name, {}).get(version, {}).get(arch)
        return entry.sha256 if entry is not None else None

    def record(self, name: str, version: str, arch: str, sha256: str, url: str) -> None:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        entry = LockedDigest(sha256=sha256, url=url, recorded=now)
        self.digests.setdefault(name, {}).setdefault(version, {})[arch] = entry

    def image_digest(self, ref: str) -> str | None:
        """The recorded digest of an image, by its normalised reference without digest."""
        return self.images.get(ref)

    def record_image(self, ref: str, digest: str) -> None:
        """Record an image's digest ("sha256:<64 hex>") under its normalised reference."""
        if not re.match(IMAGE_DIGEST, digest):
            raise ValueError(f"{ref}: '{digest}' is not sha256:<64 lowercase hex digits>")
        self.images[ref] = digest


def load_lock(path: Path) -> Lock:
    """The lock file's digests; an empty lock if the file does not exist yet."""
    if not path.exists():
        return Lock()
    text = read_text(path, "lock file")
    data, lines = parse_document(text, str(path), "lock file",
                                 "write it with `taco mirror sync DIR --record-digests`")
    return validate_shape(Lock, data, str(path), lines, "lock file")


def save_lock(path: Path, lock: Lock) -> None:
    """Write the lock atomically: a reader never sees half a file."""
    dumped = lock.model_dump()
    sections: dict[str, object] = {"digests": dumped["digests"]}
    if dumped["images"]:
        sections["images"] = dumped["images"]
    body = "schema: 1\n" + yaml.safe_dump(sections, sort_keys=True,
                                          default_flow_style=False, width=10_000)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, _HEADER + body)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

