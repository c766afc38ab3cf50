"""Exception types the CLI turns into exit codes (one mapping, in taco.cli.main)."""

from __future__ import annotations

from dataclasses import dataclass


class TacoError(Exception):
    """Base class: an error taco reports to the operator without a traceback."""

    exit_code = 1


@dataclass(frozen=True)
class SiteIssue:
    """One problem in a site file: where it is, what is wrong, how to fix it."""

    file: str
    path: str
    message: str
    hint: str = ""
    line: int | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}"
        return f"{text}\n    fix: {self.hint}" if self.hint else text


class SiteInvalid(TacoError):
    """The site file is not valid; carries every issue found, not just the first."""

    exit_code = 2

    def __init__(self, issues: list[SiteIssue]) -> None:
        self.issues = issues
        super().__init__(f"{len(issues)} problem(s) in the site description")

    def render(self) -> str:
        return "\n".join(issue.render() for issue in self.issues)


class UsageError(TacoError):
    """A command-line mistake (unknown phase, conflicting flags)."""

    exit_code = 2


class PreflightFailed(TacoError):
    """A host check failed before any change was made."""

    exit_code = 3


class PhaseFailed(TacoError):
    """A phase failed or a host was unreachable; later phases did not run."""

    exit_code = 4


class LabError(TacoError):
    """The lab could not be built, started or removed."""

    exit_code = 5


class ArtifactError(TacoError):
    """An artifact could not be fetched, failed its checksum or is missing from a mirror."""

    exit_code = 6


class VerifyFailed(TacoError):
    """`taco verify` ran and at least one check failed (the summary lists them)."""

    exit_code = 7
