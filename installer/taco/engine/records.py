"""Run records: what a run did, kept on disk so it can be read later and resumed.

A record is `<root>/<site>/<YYYYmmdd-HHMMSS>-<id>/` (root defaults to
`<state_dir>/runs`) holding `site.yml` and `inventory.yml` (secrets redacted),
one ansible-runner private data dir per phase (`phases/NN-name/` with env/,
job_events/, stdout, status, rc) and `summary.json`, rewritten atomically after
every change so a crash leaves a truthful record. Times are UTC.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from taco.engine.events import Failure, HostCounts, PhaseStatus
from taco.errors import UsageError
from taco.paths import state_dir

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from pydantic import BaseModel

    from taco.engine.phases import Phase

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]

REDACTED = "<redacted>"
# Names of fields that hold secrets. A key *path* (ansible_ssh_private_key_file,
# ssh.private_key) is not a secret; key material is, and is also caught by value.
_SECRET_NAME = re.compile(
    r"token|passw|secret|credential|api[_-]?key|access[_-]?key|private[_-]?key[_-]?(data|content|pem)"
    r"|key[_-]?(data|material|pem)|(^|_)auth($|_)|cookie",
    re.IGNORECASE,
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE REQUEST)-----")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)

_FILE_MODE = 0o600
_DIR_MODE = 0o700
HANDOVER_FILE = "handover.json"


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact(data: Any) -> Any:
    """A copy of `data` with secret values replaced, for writing to a record.

    Secret by name (token, password, secret, credential, api key, auth, key material),
    by value (PEM private keys) and passwords inside URLs (http://user:pass@host).
    """
    if isinstance(data, dict):
        return {
            key: (REDACTED if data[key] not in (None, "", [], {}) and is_secret_name(str(key))
                  else redact(data[key]))
            for key in data
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    if isinstance(data, str):
        if _PEM.search(data):
            return REDACTED
        return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", data)
    return data


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).chmod(_FILE_MODE)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def harden(root: Path) -> None:
    """Make every file under `root` 0600 and every directory 0700 (artifacts may hold facts)."""
    root.chmod(_DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            (Path(dirpath) / name).chmod(_DIR_MODE)
        for name in filenames:
            target = Path(dirpath) / name
            if not target.is_symlink():
                target.chmod(_FILE_MODE)


@dataclass(frozen=True)
class PhaseSummary:
    name: str
    status: PhaseStatus = "not-run"
    started: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    hosts: Mapping[str, HostCounts] = field(default_factory=dict)
    failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "duration_s": self.duration_s,
            "hosts": {host: counts.to_dict() for host, counts in self.hosts.items()},
            "failure": self.failure.to_dict() if self.failure else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseSummary:
        failure = data.get("failure")
        return cls(
            name=str(data["name"]),
            status=data.get("status", "not-run"),
            started=data.get("started"),
            finished=data.get("finished"),
            duration_s=data.get("duration_s"),
            hosts={h: HostCounts.from_dict(c) for h, c in (data.get("hosts") or {}).items()},
            failure=Failure.from_dict(failure) if failure else None,
        )


@dataclass(frozen=True)
class RunSummary:
    """The contents of a record's summary.json."""

    run_id: str
    site: str
    command: str
    started: str
    finished: str | None
    status: RunStatus
    phases: tuple[PhaseSummary, ...]
    record_dir: Path
    check: bool = False
    limit: str | None = None
    # A run that changes no host (`taco verify`): never a place to resume from.
    read_only: bool = False

    def phase(self, name: str) -> PhaseSummary | None:
        return next((phase for phase in self.phases if phase.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "site": self.site,
            "command": self.command,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
            "check": self.check,
            "read_only": self.read_only,
            "limit": self.limit,
            "phases": [phase.to_dict() for phase in self.phases],
            "record_dir": str(self.record_dir),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(
            run_id=str(data["run_id"]),
            site=str(data["site"]),
            command=str(data.get("command", "")),
            started=str(data["started"]),
            finished=data.get("finished"),
            status=data.get("status", "running"),
            phases=tuple(PhaseSummary.from_dict(p) for p in data.get("phases") or ()),
            record_dir=Path(data["record_dir"]),
            check=bool(data.get("check", False)),
            read_only=bool(data.get("read_only", False)),
            limit=data.get("limit"),
        )


def runs_root(root: Path | None = None) -> Path:
    """Where records live: `root` if given (the CLI's --record-dir), else <state_dir>/runs."""
    return root if root is not None else state_dir() / "runs"


class RunRecord:
    """One run's directory and its summary, kept current on disk."""

    def __init__(self, path: Path, summary: RunSummary) -> None:
        self.path = path
        self._summary = summary

    @classmethod
    def create(
        cls,
        site: str,
        command: str,
        *,
        root: Path | None = None,
        check: bool = False,
        limit: str | None = None,
        read_only: bool = False,
    ) -> RunRecord:
        """Make a new record directory and write its first summary (status running)."""
        started = _now()
        run_id = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        site_dir = runs_root(root) / site
        site_dir.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        path = site_dir / run_id
        earlier = None if check else _latest_handover(site, root)
        path.mkdir(mode=_DIR_MODE)
        if earlier is not None:
            write_private(path / HANDOVER_FILE, json.dumps(earlier, indent=2) + "\n")
        summary = RunSummary(run_id, site, command, _iso(started), None, "running", (), path,
                             check=check, limit=limit, read_only=read_only)
        record = cls(path, summary)
        record._save()
        return record

    @property
    def run_id(self) -> str:
        return self._summary.run_id

    @property
    def site(self) -> str:
        return self._summary.site

    @property
    def summary(self) -> RunSummary:
        return self._summary

    def write_site(self, site: Mapping[str, Any] | BaseModel) -> Path:
        """Write the resolved site, secrets redacted, as site.yml."""
        return self._write_yaml("site.yml", redact(plain(site)))

    def write_inventory(self, inventory: Mapping[str, Any]) -> Path:
        """Write the inventory, secrets redacted, as inventory.yml."""
        return self._write_yaml("inventory.yml", redact(plain(inventory)))

    def phase_dir(self, index: int, name: str) -> Path:
        """ansible-runner's private data dir for the phase at 1-based `index`."""
        path = self.path / "phases" / f"{index:02d}-{name}"
        path.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        (self.path / "phases").chmod(_DIR_MODE)
        return path

    def handover(self) -> dict[str, Any]:
        """What the roles handed over so far: {"roles": {role: {host: data}}, "from": {...}}."""
        target = self.path / HANDOVER_FILE
        if not target.is_file():
            return {"roles": {}, "from": {}}
        data: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
        return data

    def add_handover(self, phase: str, roles: Mapping[str, Any]) -> None:
        """Merge a phase's handover data in; a role's newest data replaces its older data.

        `from` names the run and phase each role's data came from, so data carried over
        from an earlier run (a resume, an `--only`) says so.
        """
        data = self.handover()
        for role, value in roles.items():
            data["roles"][role] = redact(plain(value))
            data["from"][role] = {"run": self.run_id, "phase": phase}
        write_private(self.path / HANDOVER_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def begin(self, phases: Sequence[Phase]) -> None:
        """List the phases this run means to execute, all not-run yet."""
        self._update(phases=tuple(PhaseSummary(phase.name) for phase in phases))

    def phase_started(self, name: str) -> None:
        self._update_phase(name, status="running", started=_iso(_now()))

    def phase_finished(
        self,
        name: str,
        status: PhaseStatus,
        *,
        duration_s: float,
        hosts: Mapping[str, HostCounts],
        failure: Failure | None,
    ) -> None:
        self._update_phase(name, status=status, finished=_iso(_now()),
                           duration_s=round(duration_s, 3), hosts=dict(hosts), failure=failure)

    def finish(self, status: RunStatus) -> None:
        self._update(status=status, finished=_iso(_now()))

    def _update_phase(self, name: str, **changes: Any) -> None:
        phases = list(self._summary.phases)
        for position, phase in enumerate(phases):
            if phase.name == name:
                phases[position] = replace(phase, **changes)
                break
        else:
            phases.append(replace(PhaseSummary(name), **changes))
        self._update(phases=tuple(phases))

    def _update(self, **changes: Any) -> None:
        self._summary = replace(self._summary, **changes)
        self._save()

    def _save(self) -> None:
        write_private(self.path / "summary.json",
                      json.dumps(self._summary.to_dict(), indent=2) + "\n")

    def _write_yaml(self, name: str, data: Any) -> Path:
        target = self.path / name
        write_private(target, yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        return target


def plain(data: Any) -> Any:
    """Plain dicts/lists/scalars (what yaml.safe_dump takes) from models and mappings."""
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(data, Mapping):
        return {str(key): plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [plain(item) for item in data]
    return data


def _summaries(paths: Iterable[Path]) -> list[RunSummary]:
    found = []
    for path in paths:
        try:
            found.append(RunSummary.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign directory is not a run
    return found


def list_runs(site: str | None = None, root: Path | None = None) -> list[RunSummary]:
    """Recorded runs, newest first; only `site`'s when given."""
    base = runs_root(root)
    pattern = f"{site}/*/summary.json" if site else "*/*/summary.json"
    runs = _summaries(base.glob(pattern)) if base.is_dir() else []
    return sorted(runs, key=lambda run: (run.started, run.run_id), reverse=True)


def load_run(run_id: str, root: Path | None = None) -> RunSummary:
    """The run with this id (or a unique prefix of it)."""
    matches = [run for run in list_runs(None, root) if run.run_id.startswith(run_id)]
    exact = [run for run in matches if run.run_id == run_id]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run '{run_id}' under {runs_root(root)}; `taco runs` lists them")
    ids = ", ".join(run.run_id for run in matches)
    raise UsageError(f"run id '{run_id}' is ambiguous ({ids}); give more of it")


def _latest_handover(site: str, root: Path | None) -> dict[str, Any] | None:
    """The handover data of the site's newest real run that has any, to build on."""
    for run in list_runs(site, root):
        target = run.record_dir / HANDOVER_FILE
        if not run.check and target.is_file():
            data: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
            return data
    return None


def resume_point(site: str, root: Path | None, phases: Sequence[Phase]) -> str | None:
    """The first of `phases` the site's latest real run did not finish, or None.

    Check-mode and read-only runs change nothing, so they are not a place to resume from. Phases
    the run did not include are not judged; a skipped phase (no hosts) counts as done.
    None means there is no run of the site or its latest run succeeded.
    """
    runs = [run for run in list_runs(site, root) if not run.check and not run.read_only]
    if not runs:
        return None
    latest = runs[0]
    for phase in phases:
        recorded = latest.phase(phase.name)
        if recorded is not None and recorded.status not in ("succeeded", "skipped"):
            return phase.name
    return None
