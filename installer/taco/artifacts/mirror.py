"""A mirror directory: fill it (`sync`), check it (`verify`).

Layout: `<name>/<version>/<arch>/<filename>` (arch `all` for arch-independent files),
the same paths a site's `mirrors.artifacts` URL is resolved to, so any static web
server over the directory is a mirror. `taco-mirror.yml` at the top lists every
file sync put there with its sha256; verify checks the files against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from taco.artifacts.download import RetryPolicy, download, sha256_file
from taco.artifacts.lock import save_lock, write_atomically
from taco.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from taco.artifacts.lock import Lock
    from taco.artifacts.resolve import ArtifactFile

INDEX_FILENAME = "taco-mirror.yml"
_INDEX_HEADER = (
    "# Written by `taco mirror sync`: every file of this mirror and its sha256.\n"
    "# `taco mirror verify DIR` checks the files against it.\n"
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _quiet(_: str) -> None:
    """Default log: say nothing."""


@dataclass
class SyncResult:
    fetched: list[ArtifactFile] = field(default_factory=list)
    present: list[ArtifactFile] = field(default_factory=list)
    recorded: list[ArtifactFile] = field(default_factory=list)
    unrecorded: list[ArtifactFile] = field(default_factory=list)


class UnrecordedDigests(ArtifactError):
    """Files whose publisher gives no digest and whose digest is not recorded yet."""

    def __init__(self, files: list[ArtifactFile], lock_path: Path) -> None:
        self.files = files
        names = "".join(f"\n    {item.path} ({item.url})" for item in files)
        super().__init__(
            f"{len(files)} file(s) have no published sha256 and none recorded in "
            f"{lock_path}, so they were not fetched and cannot be installed:{names}\n"
            "    fix: on a connected host run `taco mirror sync DIR --record-digests` "
            "(with the same --site or --lock), review the lock file and keep it with the "
            "site (mirrors.artifact_lock)"
        )


def sync(
    directory: Path,
    files: Iterable[ArtifactFile],
    *,
    lock: Lock,
    lock_path: Path,
    record_digests: bool = False,
    policy: RetryPolicy | None = None,
    log: Callable[[str], None] = _quiet,
) -> SyncResult:
    """Fetch every file not yet present with its pinned digest; verify each on arrival.

    A file already in place with the right digest is not fetched again. With
    `record_digests`, files without any digest are fetched and their digest written
    to the lock file; without it they are skipped and reported (UnrecordedDigests).
    A wrong digest stops the sync (ChecksumMismatch); the index keeps what was done.
    """
    directory.mkdir(parents=True, exist_ok=True)
    index = read_index(directory)
    result = SyncResult()
    try:
        for item in files:
            digest = _sync_one(directory, item, lock, lock_path, record_digests, policy,
                               log, result)
            if digest is not None:
                index[item.path] = digest
    finally:
        write_index(directory, index)
    if result.unrecorded:
        raise UnrecordedDigests(result.unrecorded, lock_path)
    return result


def _sync_one(
    directory: Path,
    item: ArtifactFile,
    lock: Lock,
    lock_path: Path,
    record_digests: bool,
    policy: RetryPolicy | None,
    log: Callable[[str], None],
    result: SyncResult,
) -> str | None:
    destination = directory / item.path
    expected = item.sha256
    if expected is None and not record_digests:
        result.unrecorded.append(item)
        log(f"skip     {item.path}: no digest recorded")
        return None
    if expected is not None and destination.is_file():
        actual = sha256_file(destination)
        if actual == expected:
            result.present.append(item)
            log(f"present  {item.path}")
            return actual
        log(f"replace  {item.path}: its sha256 {actual} is not the pinned {expected}")

    def retrying(attempt: int, reason: str, wait: float) -> None:
        log(f"retry    {item.url}: attempt {attempt} failed ({reason}); again in {wait:g} s")

    digest = download(item.url, destination, expected, what=item.path, policy=policy,
                      on_retry=retrying)
    if expected is None:
        lock.record(item.name, item.version, item.arch, digest, item.url)
        save_lock(lock_path, lock)
        result.recorded.append(item)
        log(f"recorded {item.path}: sha256 {digest} (in {lock_path})")
    else:
        result.fetched.append(item)
        log(f"fetched  {item.path}")
    return digest


# -- the index ----------------------------------------------------------------------


def read_index(directory: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file sync put in the mirror ({} if none yet)."""
    path = directory / INDEX_FILENAME
    if not path.exists():
        return {}
    fix = f"fix: run `taco mirror sync {directory}` again to rewrite it"
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ArtifactError(f"{path}: cannot read the mirror index ({error}); {fix}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ArtifactError(f"{path}: files: is missing or not a mapping; {fix}")
    for key, value in files.items():
        if not isinstance(key, str) or not _is_mirror_path(key):
            raise ArtifactError(f"{path}: files.{key}: not a mirror path "
                                f"(<name>/<version>/<arch>/<filename>); {fix}")
        if not isinstance(value, str) or not _SHA256.match(value):
            raise ArtifactError(f"{path}: files.{key}: not a sha256 digest; {fix}")
    return dict(files)


def write_index(directory: Path, index: dict[str, str]) -> None:
    body = yaml.safe_dump({"schema": 1, "files": dict(sorted(index.items()))},
                          default_flow_style=False, sort_keys=False, width=10_000)
    write_atomically(directory / INDEX_FILENAME, _INDEX_HEADER + body)


def _is_mirror_path(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 4 and all(p and p not in (".", "..") and not p.startswith(".")
                                   for p in parts)


# -- verify -------------------------------------------------------------------------


@dataclass
class VerifyResult:
    good: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # (path, expected, actual)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unrecorded)

    def problems(self) -> list[str]:
        lines = [f"missing     {path}" for path in self.missing]
        lines += [f"mismatch    {path}\n    expected sha256 {expected}\n"
                  f"    actual sha256   {actual}" for path, expected, actual in self.mismatched]
        lines += [f"unrecorded  {path}: no digest to check it against (record it with "
                  "`taco mirror sync DIR --record-digests` and name the lock file in "
                  "mirrors.artifact_lock)" for path in self.unrecorded]
        return lines


def verify(directory: Path, expected: Iterable[ArtifactFile] | None = None) -> VerifyResult:
    """Check every file of the mirror index (and every `expected` file) by its sha256.

    `expected` are the files a site or release needs: each must be present too, with
    the digest the manifest (or lock) pins.
    """
    if not directory.is_dir():
        raise ArtifactError(f"{directory} is not a directory; give the directory "
                            "`taco mirror sync` filled")
    index_present = (directory / INDEX_FILENAME).exists()
    if not index_present and expected is None:
        raise ArtifactError(f"{directory} has no {INDEX_FILENAME}: it is not a mirror written "
                            "by `taco mirror sync` (or give --site/--release to check it "
                            "against the manifest)")
    wanted: dict[str, str | None] = dict(read_index(directory))
    for item in expected or ():
        wanted[item.path] = item.sha256
    result = VerifyResult()
    for path, digest in sorted(wanted.items()):
        target = directory / path
        if digest is None:
            result.unrecorded.append(path)
        elif not target.is_file():
            result.missing.append(path)
        else:
            actual = sha256_file(target)
            if actual == digest:
                result.good.append(path)
            else:
                result.mismatched.append((path, digest, actual))
    return result
