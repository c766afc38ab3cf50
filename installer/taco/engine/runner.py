"""Run phases through ansible-runner — the only module that imports ansible_runner.

Each phase is one `ansible_runner.run_async` whose private data dir is the
record's `phases/NN-name/` (ansible-runner writes env/, job_events/, stdout,
status, rc and command there). Its event handler turns runner events into typed
events on a queue; the caller's thread drains the queue and calls the sink, so
the UI runs in the main thread. The first failed phase stops the run.

Secrets: extra vars are never handed to ansible-runner as `extravars` (it would
write them to env/extravars in clear). They go into a 0600 JSON file in a private
temporary directory, passed as `-e @FILE`, and removed when the run ends. If the
inventory holds secrets, the record keeps a redacted inventory.yml and Ansible
reads the real one from that temporary directory. The `command` artifact, which
ansible-runner fills with the whole process environment, is cut down to the
Ansible settings as soon as the phase starts.

Ctrl-C (KeyboardInterrupt in the draining thread) stops the phase through
`_Stopper`: SIGINT to ansible-playbook so it stops its workers, then
ansible-runner's cancel if it lingers. The run ends as interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ansible_runner  # type: ignore[import-untyped]  # ships no type hints
import yaml

from taco.engine.events import (
    Event,
    Failure,
    HostCounts,
    HostResult,
    PhaseFinished,
    PhaseStarted,
    PhaseStatus,
    PlayRecap,
    RunnerError,
    TaskStarted,
    from_runner_event,
)
from taco.engine.records import (
    REDACTED,
    RunRecord,
    RunStatus,
    RunSummary,
    harden,
    is_secret_name,
    plain,
    redact,
    write_private,
)
from taco.errors import PhaseFailed, PreflightFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from taco.engine.phases import Phase

# How often ansible-runner looks at the cancel flag (seconds): Ctrl-C answers this fast.
_CANCEL_POLL_S = 1
_DRAIN_POLL_S = 0.1
# How long ansible-playbook may take to stop its workers after SIGINT before it is killed.
_STOP_GRACE_S = 15.0
_SWEEP_WAIT_S = 5.0
_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s"
# Environment kept in the `command` artifact: what configures Ansible, nothing of the caller's.
_KEPT_ENV_PREFIXES = ("ANSIBLE_", "RUNNER_", "AWX_")


@dataclass(frozen=True)
class RunRequest:
    """Everything one `taco` run hands the engine."""

    site: str
    inventory: Mapping[str, Any]
    phases: tuple[Phase, ...]
    record: RunRecord
    content_root: Path
    extravars: Mapping[str, Any] = field(default_factory=dict)
    limit: str | None = None
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    forks: int = 20
    # The site's ssh.host_key_checking; the inventory's ssh args follow the same setting.
    host_key_checking: bool = True
    # Ansible Vault password file for vault-encrypted files the site names (Prow's secrets).
    vault_password_file: Path | None = None
    # Called just before each phase's playbook starts (e.g. to render what it copies);
    # an exception fails the phase with its message.
    before_phase: Callable[[Phase, RunRecord], None] | None = None


@dataclass(frozen=True)
class RunResult:
    """How a run ended; `summary` is what summary.json says."""

    status: RunStatus
    summary: RunSummary
    failed_phase: Phase | None = None
    failure: Failure | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def record_dir(self) -> Path:
        return self.summary.record_dir

    def raise_for_status(self) -> None:
        """Raise the error type the CLI maps to an exit code; KeyboardInterrupt if interrupted."""
        if self.status == "interrupted":
            raise KeyboardInterrupt
        if self.status != "failed":
            return
        name = self.failed_phase.name if self.failed_phase else "?"
        where = ""
        if self.failure and self.failure.host:
            where = f" on {self.failure.host}, task '{self.failure.task}'"
        why = f": {self.failure.message}" if self.failure and self.failure.message else ""
        text = f"phase '{name}' failed{where}{why}\nrun record: {self.record_dir}"
        if self.failed_phase is not None and self.failed_phase.read_only:
            raise PreflightFailed(text)
        raise PhaseFailed(text)


def runner_envvars(content_root: Path, *, host_key_checking: bool = True,
                   fact_cache: Path | None = None) -> dict[str, str]:
    """The environment Ansible runs with (the same settings as the content's ansible.cfg).

    With `fact_cache` (a private directory that lives as long as the run) facts gathered by
    the first phase serve the later ones: gathering cost ~2 s per phase on five nodes.
    """
    env = {
        "ANSIBLE_ROLES_PATH": str(content_root / "roles"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": _SSH_ARGS,
        "ANSIBLE_HOST_KEY_CHECKING": str(host_key_checking),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    }
    if fact_cache is not None:
        env |= {
            "ANSIBLE_GATHERING": "smart",
            "ANSIBLE_CACHE_PLUGIN": "jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(fact_cache),
            # Never stale within a run; the directory goes with the run.
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0",
        }
    for variable, folder in (("ANSIBLE_LIBRARY", "library"),
                             ("ANSIBLE_MODULE_UTILS", "module_utils")):
        if (content_root / folder).is_dir():
            env[variable] = str(content_root / folder)
    # ansible-playbook sits next to our interpreter even when that venv is not on PATH.
    bindir = Path(sys.executable).parent
    if (bindir / "ansible-playbook").exists():
        env["PATH"] = os.pathsep.join([str(bindir), os.environ.get("PATH", os.defpath)])
    return env


def runner_cmdline(
    *, check: bool, diff: bool, extravars_file: Path | None,
    vault_password_file: Path | None = None,
) -> str:
    """ansible-playbook options ansible-runner has no keyword for."""
    args = [*(["--check"] if check else []), *(["--diff"] if diff else [])]
    if extravars_file is not None:
        args += ["-e", f"@{extravars_file}"]
    if vault_password_file is not None:
        args += ["--vault-password-file", str(vault_password_file)]
    return shlex.join(args)


@dataclass
class _PhaseOutcome:
    status: PhaseStatus
    failure: Failure | None


@dataclass
class _Tracker:
    """What the drained events say about a phase: recap, first break, errors, current task."""

    recap: dict[str, HostCounts] = field(default_factory=dict)
    breaks: list[HostResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    task: str = ""
    handover: dict[str, Any] = field(default_factory=dict)

    def see(self, event: Event) -> None:
        if isinstance(event, PlayRecap):
            self.recap.update(event.hosts)
            self.handover.update(event.handover)
        elif isinstance(event, HostResult) and event.breaks_phase:
            self.breaks.append(event)
        elif isinstance(event, RunnerError):
            self.errors.append(event.message)
        elif isinstance(event, TaskStarted):
            self.task = event.task

    def failure(self) -> Failure | None:
        broken = {host for host, counts in self.recap.items() if counts.broken}
        for result in self.breaks:
            if not broken or result.host in broken:
                return Failure(result.host, result.task, result.message)
        if self.errors:
            return Failure("", "", "\n".join(self.errors[:3]))
        return None


@dataclass(frozen=True)
class _Runtime:
    """Per-run inputs kept outside the record (see the module docstring)."""

    inventory: Path
    extravars: Path | None
    envvars: dict[str, str]


def _prepare(request: RunRequest, scratch: Path) -> _Runtime:
    inventory = request.record.write_inventory(request.inventory)
    real = plain(request.inventory)
    if redact(real) != real:
        inventory = scratch / "inventory.yml"
        write_private(inventory, yaml.safe_dump(real, sort_keys=False))
    extravars = None
    if request.extravars:
        extravars = scratch / "extravars.json"
        write_private(extravars, json.dumps(plain(request.extravars), default=str))
    envvars = runner_envvars(request.content_root, host_key_checking=request.host_key_checking,
                             fact_cache=scratch / "facts")
    return _Runtime(inventory, extravars, envvars)


def run_phases(request: RunRequest, sink: Callable[[Event], None]) -> RunResult:
    """Run the request's phases in order, stopping at the first that fails.

    Events go to `sink` from the calling thread. Ctrl-C cancels the running phase
    and ends the run as interrupted; the record stays truthful either way.
    """
    record = request.record
    record.begin(request.phases)
    status: RunStatus = "succeeded"
    failed: Phase | None = None
    failure: Failure | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="taco-run-") as scratch:
            runtime = _prepare(request, Path(scratch))
            for index, phase in enumerate(request.phases, start=1):
                failed = phase
                outcome = _run_phase(request, runtime, index, phase, sink)
                if outcome.status in ("failed", "interrupted"):
                    status = "failed" if outcome.status == "failed" else "interrupted"
                    failure = outcome.failure
                    break
            else:
                failed = None
    except KeyboardInterrupt:
        # Between phases, or while the UI drew: no phase is left running.
        status = "interrupted"
        _close_running(record, "interrupted")
    except BaseException:
        _close_running(record, "failed")
        record.finish("failed")
        raise
    record.finish(status)
    return RunResult(status, record.summary, failed, failure)


def _close_running(record: RunRecord, status: PhaseStatus) -> None:
    """Close a phase left running by an exception, so the record does not claim it still runs."""
    for phase in record.summary.phases:
        if phase.status == "running":
            record.phase_finished(phase.name, status, duration_s=0.0,
                                  hosts=phase.hosts, failure=phase.failure)


def _run_phase(
    request: RunRequest,
    runtime: _Runtime,
    index: int,
    phase: Phase,
    sink: Callable[[Event], None],
) -> _PhaseOutcome:
    record, total = request.record, len(request.phases)
    record.phase_started(phase.name)
    sink(PhaseStarted(phase.name, phase.title, index, total))
    started = time.monotonic()
    private_dir = record.phase_dir(index, phase.name)
    tracker = _Tracker()
    playbook = request.content_root / "playbooks" / phase.playbook
    prepared = _before_phase(request, phase)
    if prepared is not None:
        outcome = prepared
    elif playbook.is_file():
        outcome = _drive(request, runtime, phase, private_dir, playbook, tracker, sink)
    else:
        outcome = _PhaseOutcome("failed", Failure("", "", f"playbook {playbook} does not exist"))
    _scrub_command(private_dir / "command", set(runtime.envvars))
    harden(private_dir)
    if tracker.handover and outcome.status == "succeeded":
        record.add_handover(phase.name, tracker.handover)
    duration = time.monotonic() - started
    record.phase_finished(phase.name, outcome.status, duration_s=duration,
                          hosts=tracker.recap, failure=outcome.failure)
    sink(PhaseFinished(phase.name, phase.title, index, total, outcome.status, duration,
                       dict(tracker.recap), outcome.failure))
    return outcome


def _before_phase(request: RunRequest, phase: Phase) -> _PhaseOutcome | None:
    """Run the request's per-phase hook; a failed outcome if it raised, else None."""
    if request.before_phase is None:
        return None
    try:
        request.before_phase(phase, request.record)
    except Exception as error:  # the phase needs what the hook prepares: stop here
        return _PhaseOutcome("failed", Failure("", "", f"preparing phase {phase.name}: {error}"))
    return None


def _drive(
    request: RunRequest,
    runtime: _Runtime,
    phase: Phase,
    private_dir: Path,
    playbook: Path,
    tracker: _Tracker,
    sink: Callable[[Event], None],
) -> _PhaseOutcome:
    """One ansible-runner job: start it, pump its events to the sink, judge the result."""
    events: queue.Queue[Event] = queue.Queue()
    stopper = _Stopper()

    def on_event(raw: dict[str, Any]) -> bool:
        stopper.saw(raw)
        try:
            event = from_runner_event(phase.name, raw)
        except Exception:  # an odd event must not break the run; job_events/ still has it
            event = None
        if event is not None:
            events.put(event)
        return True  # keep writing job_events/

    def on_status(data: dict[str, Any], runner_config: object = None) -> None:
        if data.get("status") == "running":
            # The command artifact was just written with the whole environment: cut it now,
            # not only after the phase, so a crash does not leave it behind.
            _scrub_command(private_dir / "command", set(runtime.envvars))

    thread, runner = ansible_runner.run_async(
        private_data_dir=str(private_dir),
        # artifact_dir/ident put job_events/, stdout, status, rc beside env/, in the phase dir.
        artifact_dir=str(private_dir.parent),
        ident=private_dir.name,
        playbook=str(playbook),
        inventory=str(runtime.inventory),
        envvars=runtime.envvars,
        cmdline=runner_cmdline(check=request.check, diff=request.diff,
                               extravars_file=runtime.extravars,
                               vault_password_file=request.vault_password_file),
        limit=request.limit,
        forks=request.forks,
        verbosity=request.verbosity or None,
        settings={"pexpect_timeout": _CANCEL_POLL_S},
        quiet=True,
        # Not ansible-runner's jsonfile cache: it would keep each host's facts, ansible_env
        # included (stripped from job events), in the record. runner_envvars points Ansible
        # at the run's private scratch directory instead.
        fact_cache_type="none",
        event_handler=on_event,
        status_handler=on_status,
        cancel_callback=stopper.killed.is_set,
    )
    try:
        while True:
            try:
                stopper.tick()
                try:
                    event = events.get(timeout=_DRAIN_POLL_S)
                except queue.Empty:
                    if not thread.is_alive() and events.empty():
                        break
                    continue
                tracker.see(event)
                sink(event)
            except KeyboardInterrupt:
                stopper.stop()
    finally:
        if thread.is_alive():
            stopper.stop()
        _join(thread, stopper)
        if stopper.requested is not None:
            _sweep(str(runtime.inventory), str(playbook))

    interrupted = stopper.requested is not None
    if interrupted or runner.status == "canceled":
        return _PhaseOutcome("interrupted", None)
    failure = tracker.failure()
    broken = any(counts.broken for counts in tracker.recap.values())
    if runner.rc == 0 and not broken:
        return _PhaseOutcome("succeeded" if tracker.recap else "skipped", None)
    if failure is None:
        failure = Failure("", tracker.task, f"ansible-playbook ended {runner.status} "
                          f"(rc {runner.rc}); see {private_dir / 'stdout'}")
    return _PhaseOutcome("failed", failure)


class _Stopper:
    """Stops a running ansible-playbook the way Ctrl-C in a terminal would.

    ansible-runner's own cancel SIGKILLs the process group of ansible-playbook, but
    Ansible's workers live in sessions of their own and would run on (and hang). So
    SIGINT goes first to the ansible-playbook process (its pid comes with its first
    event), which stops its workers and their modules; ansible-runner's kill
    follows only if it has not ended after a grace period, or on a second Ctrl-C.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self.requested: float | None = None
        self.killed = threading.Event()

    def saw(self, raw: Mapping[str, Any]) -> None:
        # playbook_on_start comes from ansible-playbook itself, before any worker forks.
        pid = raw.get("pid")
        if raw.get("event") == "playbook_on_start" and isinstance(pid, int) and pid != os.getpid():
            self.pid = pid

    def stop(self) -> None:
        if self.requested is not None or self.pid is None:
            self.killed.set()  # a second request, or ansible has not started its work yet
        if self.requested is None:
            self.requested = time.monotonic()
            if self.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGINT)

    def tick(self) -> None:
        if self.requested is not None and time.monotonic() - self.requested > _STOP_GRACE_S:
            self.killed.set()


def _processes_with(*markers: str) -> list[int]:
    """Pids whose command line holds every marker (Linux /proc; elsewhere none)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(marker.encode() in argv for marker in markers):
            found.append(int(proc.name))
    return [pid for pid in found if pid != os.getpid()]


def _sweep(inventory: str, playbook: str) -> None:
    """End Ansible workers an interrupted phase left behind.

    A worker forked just as SIGINT arrived can miss its parent's notice and run on
    in its own session. Workers carry ansible-playbook's argv, so this phase's own
    inventory and playbook paths find exactly them; each leads its process group
    (with the module it runs), which gets SIGTERM, then SIGKILL.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        survivors = _processes_with(inventory, playbook)
        if not survivors:
            return
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)
        deadline = time.monotonic() + _SWEEP_WAIT_S
        while _processes_with(inventory, playbook) and time.monotonic() < deadline:
            time.sleep(_DRAIN_POLL_S)


def _join(thread: threading.Thread, stopper: _Stopper) -> None:
    """Wait for the runner thread; a further Ctrl-C hurries it, never abandons it."""
    while thread.is_alive():
        try:
            stopper.tick()
            thread.join(timeout=_DRAIN_POLL_S)
        except KeyboardInterrupt:
            stopper.stop()


def _scrub_command(path: Path, ours: set[str]) -> None:
    """Cut the `command` artifact's environment (the caller's whole env) to Ansible settings."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    env = data.get("env") or {}
    data["env"] = {
        key: REDACTED if is_secret_name(key) else value
        for key, value in env.items()
        if key in ours or key.startswith(_KEPT_ENV_PREFIXES)
    }
    write_private(path, json.dumps(data, indent=2) + "\n")
