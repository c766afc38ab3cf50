"""The site's prow settings: opt-in, what an enabled Prow needs, names Prow accepts, and the
secrets file resolved against the site file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sitetext import ONE_NODE_SITE, PROW_CHARTS, PROW_ENABLED

from taco.errors import SiteInvalid, SiteIssue
from taco.inventory.build import build_inventory
from taco.site.load import load_site, load_site_text

if TYPE_CHECKING:
    from pathlib import Path

SITE = ONE_NODE_SITE
# Prow's jobs run the handover phase's pipeline: it must exist and be applied.
CHARTS = PROW_CHARTS
ENABLED = PROW_ENABLED


def _issues(prow: str, directory: Path | None = None, charts: str = CHARTS) -> list[SiteIssue]:
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(SITE + charts + prow, "site.yml", base_dir=directory)
    return raised.value.issues


def test_prow_is_off_by_default_and_needs_nothing() -> None:
    prow = load_site_text(SITE, "site.yml").prow
    assert prow.enabled is False
    assert prow.approval_label == "approved-for-deploy"
    assert prow.jobs.periodic_interval == "24h"


def test_secrets_file_is_relative_to_the_site_file(tmp_path: Path) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\ngithub_token: y\n")
    (tmp_path / "site.yml").write_text(SITE + CHARTS + ENABLED)
    site = load_site(tmp_path / "site.yml")
    assert site.prow.secrets_file == str(tmp_path / "secrets.yml")
    variables = build_inventory(site)["all"]["vars"]["taco_prow"]
    assert variables["secrets_file"] == str(tmp_path / "secrets.yml")
    assert variables["repos"] == ["site-config"]
    # Only the path reaches the inventory, never the file's content.
    assert "hmac_token" not in str(build_inventory(site))


def test_enabled_without_anything_names_each_missing_setting() -> None:
    issues = _issues("prow:\n  enabled: true\n")
    paths = sorted(issue.path for issue in issues)
    assert paths == ["prow.host", "prow.org", "prow.repos", "prow.secrets_file"]
    by_path = {issue.path: issue for issue in issues}
    assert "https://<host>/hook" in by_path["prow.host"].message
    assert "Ansible Vault" in by_path["prow.secrets_file"].hint
    assert all(issue.file == "site.yml" and issue.line == 9 for issue in issues)


def test_missing_secrets_file_is_named(tmp_path: Path) -> None:
    issues = _issues(ENABLED, tmp_path)
    assert [issue.path for issue in issues] == ["prow.secrets_file"]
    assert str(tmp_path / "secrets.yml") in issues[0].message


# prow block (after ENABLED's keys), field path, phrase (in message or hint)
CASES: list[tuple[str, str, str]] = [
    ("  approval_label: approved for deploy\n", "prow.approval_label", "spaces"),
    ("  approval_label: lgtm\n", "prow.approval_label", "Prow's own plugins"),
    ("  approval_label: " + "x" * 51 + "\n", "prow.approval_label", "50 characters"),
    ("  approval_label: 'a,b'\n", "prow.approval_label", "commas"),
    ("  host: https://prow.example.com/\n", "prow.host", "no scheme, port or path"),
    ("  host: 10.0.0.5\n", "prow.host", "is not a DNS name"),
    ("  repos: [site-config, site-config]\n", "prow.repos[1]", "listed twice"),
    ("  repos: ['bad repo']\n", "prow.repos[0]", "is not valid"),
    ("  jobs: {periodic_cron: '0 3 * * *'}\n", "prow.jobs.periodic_cron", "keep one"),
    ("  jobs: {periodic_interval: null, periodic_cron: 'daily'}\n", "prow.jobs.periodic_cron",
     "five fields"),
    ("  jobs: {periodic_interval: 10s}\n", "prow.jobs.periodic_interval", "is not valid"),
    ("  github_app_id: 0\n", "prow.github_app_id", "out of range"),
    ("  image_tag: 'v1 2'\n", "prow.image_tag", "is not valid"),
    ("  colour: blue\n", "prow.colour", "unknown key"),
]


@pytest.mark.parametrize(("extra", "path", "phrase"), CASES)
def test_bad_settings_are_named_with_a_fix(tmp_path: Path, extra: str, path: str,
                                           phrase: str) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\n")
    # Later keys replace earlier ones in YAML only when duplicated: drop the replaced line.
    key = extra.split(":")[0]
    base = "".join(line + "\n" for line in ENABLED.splitlines()
                   if not line.startswith(key + ":"))
    issues = _issues(base + extra, tmp_path)
    found = [issue for issue in issues if issue.path == path]
    assert found, [str(issue) for issue in issues]
    assert phrase in found[0].message + " " + found[0].hint
    assert found[0].line is not None


def test_a_valid_enabled_site_loads(tmp_path: Path) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\n")
    site = load_site_text(SITE + CHARTS + ENABLED + "  github_app_id: 4242\n  jobs: "
                          "{periodic_interval: null, periodic_cron: '0 3 * * *'}\n",
                          "site.yml", base_dir=tmp_path)
    assert site.prow.github_app_id == 4242
    assert site.prow.jobs.periodic_cron == "0 3 * * *"


def test_prow_needs_the_pipeline_applied_and_charts_to_run(tmp_path: Path) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\n")
    issues = _issues(ENABLED, tmp_path, charts="charts: {apply_pipeline: false}\n")
    by_path = {issue.path: issue for issue in issues}
    assert sorted(by_path) == ["charts.apply_pipeline", "charts.groups"]
    apply = by_path["charts.apply_pipeline"]
    assert apply.file == "site.yml" and apply.line == 6
    assert "Prow's jobs run the site's pipeline" in apply.message
    assert "set charts.apply_pipeline: true" in apply.hint
    assert "no pipeline" in by_path["charts.groups"].message


def test_prow_job_names_must_fit_a_label(tmp_path: Path) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\n")
    long_name = "s" * 50
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(SITE.replace("name: demo", f"name: {long_name}") + CHARTS + ENABLED,
                       "site.yml", base_dir=tmp_path)
    [issue] = raised.value.issues
    assert issue.path == "name"
    assert f"taco-{long_name}-drift-check" in issue.message
    assert "at most 46 characters" in issue.hint
