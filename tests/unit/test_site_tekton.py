"""The site's tekton settings: defaults an operator expects, and bad input named with a fix."""

from __future__ import annotations

import pytest
from sitetext import ONE_NODE_SITE

from taco.errors import SiteInvalid, SiteIssue
from taco.inventory.build import build_inventory
from taco.site.load import load_site_text

SITE = ONE_NODE_SITE


def _issues(tekton: str) -> list[SiteIssue]:
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(SITE + tekton, "site.yml")
    return raised.value.issues


def test_defaults_read_only_dashboard_on_a_node_port() -> None:
    tekton = load_site_text(SITE, "site.yml").tekton
    assert tekton.dashboard.read_only is True
    assert tekton.dashboard.expose == "nodeport"
    assert tekton.dashboard.node_port == 30097
    assert tekton.ready_timeout == 300


def test_inventory_hands_the_settings_to_the_roles() -> None:
    site = load_site_text(SITE + "tekton:\n  dashboard: {expose: ingress, ingress_host: "
                          "tekton.lab.example.com, read_only: false}\n", "site.yml")
    variables = build_inventory(site)["all"]["vars"]["taco_tekton"]
    assert variables == {
        "dashboard": {"expose": "ingress", "node_port": 30097,
                      "ingress_host": "tekton.lab.example.com", "ingress_class": None,
                      "read_only": False},
        "ready_timeout": 300,
    }


# tekton block, field path, line, phrase (in message or hint)
CASES: list[tuple[str, str, int, str]] = [
    ("tekton:\n  dashboard:\n    expose: ingress\n", "tekton.dashboard.ingress_host", 7,
     "set tekton.dashboard.ingress_host"),
    ("tekton:\n  dashboard: {expose: ingress, ingress_host: 'https://ci.example.com/'}\n",
     "tekton.dashboard.ingress_host", 7, "no scheme, port or path"),
    ("tekton:\n  dashboard: {expose: ingress, ingress_host: 10.77.0.50}\n",
     "tekton.dashboard.ingress_host", 7, "is not a DNS name"),
    ("tekton:\n  dashboard: {expose: nodeport, ingress_host: ci.example.com}\n",
     "tekton.dashboard.ingress_host", 7, "remove ingress_host, or set expose: ingress"),
    ("tekton:\n  dashboard: {ingress_class: nginx}\n",
     "tekton.dashboard.ingress_class", 7, "remove ingress_class"),
    ("tekton:\n  dashboard:\n    node_port: 8080\n", "tekton.dashboard.node_port", 8, "30000"),
    ("tekton:\n  dashboard:\n    expose: loadbalancer\n", "tekton.dashboard.expose", 8,
     "nodeport"),
    ("tekton:\n  ready_timeout: 0\n", "tekton.ready_timeout", 7, "10"),
    ("tekton:\n  dashbord: {}\n", "tekton.dashbord", 7, "did you mean 'dashboard'?"),
]


@pytest.mark.parametrize(("block", "field", "line", "phrase"), CASES,
                         ids=[c[1] + ":" + c[3][:20] for c in CASES])
def test_bad_tekton_settings_point_at_field_line_and_fix(
    block: str, field: str, line: int, phrase: str
) -> None:
    issues = _issues(block)
    assert [i.path for i in issues] == [field], [i.render() for i in issues]
    (issue,) = issues
    assert issue.file == "site.yml"
    assert issue.line == line
    assert phrase in f"{issue.message} {issue.hint}", issue.render()
    assert issue.hint, "every issue says how to fix it"
