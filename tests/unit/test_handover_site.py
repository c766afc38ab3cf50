"""Chart manifest errors are site errors: file, field path, line and fix, before any apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taco.errors import SiteInvalid, SiteIssue
from taco.site.load import load_site

if TYPE_CHECKING:
    from pathlib import Path

HEAD = """name: demo
networks: {management: {purpose: management, cidr: 10.77.0.0/24}}
nodes: [{name: node1, address: 10.77.0.11, roles: [control-plane]}]
"""


def issues(tmp_path: Path, charts: str) -> list[SiteIssue]:
    site = tmp_path / "site.yml"
    site.write_text(HEAD + charts, encoding="utf-8")
    with pytest.raises(SiteInvalid) as error:
        load_site(site)
    return error.value.issues


def only(found: list[SiteIssue]) -> SiteIssue:
    assert len(found) == 1, [i.render() for i in found]
    return found[0]


def test_unknown_dependency_names_the_entry_and_suggests(tmp_path: Path) -> None:
    issue = only(issues(tmp_path, """charts:
  groups:
    - name: infra
      charts:
        - {name: mariadb, chart: openstack-helm/mariadb}
        - {name: keystone, chart: openstack-helm/keystone, depends_on: [mariadbb]}
"""))
    assert issue.path == "charts.groups[0].charts[1].depends_on[0]"
    assert issue.line == 9
    assert "chart 'mariadbb' is not in the chart manifest" in issue.message
    assert "did you mean 'mariadb'?" in issue.hint
    assert issue.file.endswith("site.yml")


def test_a_cycle_is_named_with_its_rules(tmp_path: Path) -> None:
    issue = only(issues(tmp_path, """charts:
  groups:
    - name: infra
      charts:
        - {name: a, chart: openstack-helm/a, depends_on: [b]}
        - {name: b, chart: openstack-helm/b, depends_on: [c]}
        - {name: c, chart: openstack-helm/c, depends_on: [a]}
"""))
    assert "dependency cycle: " in issue.message
    assert "a depends_on b" in issue.message and "c depends_on a" in issue.message
    assert issue.path.startswith("charts.groups[0].charts[")
    assert issue.path.endswith("depends_on")
    assert "remove one of these dependencies" in issue.hint


def test_duplicate_names_unknown_repository_and_missing_files(tmp_path: Path) -> None:
    found = issues(tmp_path, """charts:
  environment: prod
  environments: {production: {values: {ghost: [nope.yaml]}}}
  start_run: true
  groups:
    - name: infra
      charts:
        - {name: mariadb, chart: openstack-helm/mariadb, values: [missing.yaml]}
        - {name: mariadb, chart: opnestack-helm/mariadb}
        - {name: local, chart: ./charts/none}
        - {name: taco-finally, chart: openstack-helm/x}
""")
    by_path = {issue.path: issue for issue in found}
    assert "values file" in by_path["charts.groups[0].charts[0].values[0]"].message
    assert "does not exist" in by_path["charts.groups[0].charts[0].values[0]"].message
    assert "already used by charts.groups[0].charts[0]" in \
        by_path["charts.groups[0].charts[1].name"].message
    repo = by_path["charts.groups[0].charts[1].chart"]
    assert "repository 'opnestack-helm' is not in helm.repositories" in repo.message
    assert "did you mean 'openstack-helm'?" in repo.hint
    assert "no Chart.yaml" in by_path["charts.groups[0].charts[2].chart"].message
    assert "cleanup task" in by_path["charts.groups[0].charts[3].name"].message
    assert "add environments.prod" in by_path["charts.environment"].hint
    assert "defined: production" in by_path["charts.environment"].hint
    assert "not in the chart manifest" in by_path['charts.environments.production.values.ghost'
                                                  ].message
    assert "does not exist" in by_path["charts.environments.production.values.ghost[0]"].message
    assert "set apply_pipeline: true" in by_path["charts.start_run"].hint
    assert len(found) == 9


def test_credentials_in_values_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "keystone.yaml").write_text(
        "endpoints:\n  identity:\n    auth:\n      admin: {password: hunter2}\n",
        encoding="utf-8")
    issue = only(issues(tmp_path, """charts:
  groups:
    - name: openstack
      charts:
        - {name: keystone, chart: openstack-helm/keystone, values: [keystone.yaml]}
"""))
    assert issue.path == "charts.groups[0].charts[0].values[0]"
    assert "holds credentials (endpoints.identity.auth)" in issue.message
    assert "hunter2" not in issue.render()


def test_a_bad_timeout_says_how_to_write_one(tmp_path: Path) -> None:
    issue = only(issues(tmp_path, """charts:
  groups:
    - name: infra
      charts:
        - {name: mariadb, chart: openstack-helm/mariadb, timeout: 10 minutes}
"""))
    assert issue.path == "charts.groups[0].charts[0].timeout"
    assert "write a duration such as 10m" in issue.hint


def test_values_and_local_charts_resolve_against_the_site_file(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "db.yaml").write_text("replicas: 1\n", encoding="utf-8")
    chart = tmp_path / "charts" / "db"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: db\nversion: 0.1.0\n", encoding="utf-8")
    site_file = tmp_path / "site.yml"
    site_file.write_text(HEAD + """charts:
  groups:
    - name: infra
      charts: [{name: db, chart: ./charts/db, values: [v/db.yaml]}]
""", encoding="utf-8")
    site = load_site(site_file)
    loaded = site.charts.groups[0].charts[0]
    assert loaded.values == [str(tmp_path / "v" / "db.yaml")]
    assert loaded.chart == str(chart)
