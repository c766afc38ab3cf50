"""The bundle in a run record: complete, indexed by sha256, deterministic, no secrets;
and the engine hook that writes it just before the handover phase."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
import yaml

from taco.deploy import HANDOVER_BUNDLE_DIR, prepare_phase
from taco.engine.phases import phase_by_name
from taco.engine.records import RunRecord
from taco.handover.bundle import BUNDLE_INDEX, package_chart, render, write_bundle
from taco.site.load import load_site
from taco.site.model import ChartEnvironment

HANDOVER = {
    "roles": {
        "kubernetes_cluster": {"kubeconfig": "/state/kubeconfig/demo.conf",
                               "api_server": "https://10.77.0.11:6443", "cluster_name": "taco"},
        "node_labels": {"node1": {"labels": {"openvswitch": "enabled"}, "annotation": "x"}},
        "openvswitch": {"node1": {"bridge_mappings_string": "physnet1:br-ex"}},
    },
    "from": {},
}


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    (tmp_path / "neutron.yaml").write_text("conf: {debug: true}\n", encoding="utf-8")
    chart = tmp_path / "mychart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mychart\nversion: 0.1.0\n",
                                      encoding="utf-8")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    path = tmp_path / "site.yml"
    path.write_text("""name: demo
networks: {management: {purpose: management, cidr: 10.77.0.0/24}}
nodes: [{name: node1, address: 10.77.0.11, roles: [control-plane]}]
charts:
  apply_pipeline: true
  groups:
    - name: infra
      charts: [{name: own, chart: ./mychart}]
    - name: openstack
      charts: [{name: neutron, chart: openstack-helm/neutron, values: [neutron.yaml]}]
""", encoding="utf-8")
    return path


def test_bundle_is_complete_and_indexed(site_file: Path, tmp_path: Path) -> None:
    site = load_site(site_file)
    target = tmp_path / "record" / "handover"
    write_bundle(render(site, HANDOVER, Path("/fallback.conf")), site, target)
    index = json.loads((target / BUNDLE_INDEX).read_text())
    listed = {entry["path"]: entry for entry in index["files"]}
    assert set(listed) == {"access.yaml", "pipeline.yaml", "values-configmap.yaml",
                           "runs/dev.yaml", "run-templates.yaml", "node-labels.json",
                           "kubeconfig.json",
                           "values/neutron.taco.yaml", "values/neutron.site0.neutron.yaml"}
    on_disk = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {BUNDLE_INDEX}
    for name, entry in listed.items():
        data = (target / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert (target / name).stat().st_mode & 0o777 == 0o600
    assert json.loads((target / "kubeconfig.json").read_text()) == {
        "path": "/state/kubeconfig/demo.conf", "api_server": "https://10.77.0.11:6443",
        "cluster_name": "taco"}
    assert json.loads((target / "node-labels.json").read_text()) == {
        "node1": {"openvswitch": "enabled"}}
    assert index["pipeline"] == "demo" and index["apply_pipeline"] is True
    config_map = yaml.safe_load((target / "values-configmap.yaml").read_text())
    assert config_map["metadata"]["name"] == index["config_map"]
    assert index["digest"][:10] in index["config_map"]
    assert config_map["data"]["neutron.site0.neutron.yaml"] == "conf: {debug: true}\n"
    archive = base64.b64decode(config_map["binaryData"]["own.chart.tgz"])
    with tarfile.open(fileobj=BytesIO(archive)) as packaged:
        assert sorted(packaged.getnames()) == ["mychart/Chart.yaml",
                                               "mychart/templates/cm.yaml"]
    pipeline = list(yaml.safe_load_all((target / "pipeline.yaml").read_text()))[-1]
    assert pipeline["metadata"]["labels"]["taco.dev/bundle-digest"] == index["digest"][:32]
    own = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "own")
    assert {"name": "chart", "value": "./own.chart.tgz"} in own["params"]
    # The run templates as a ConfigMap for in-cluster automation: the same runs, as JSON.
    templates = yaml.safe_load((target / "run-templates.yaml").read_text())
    assert templates["kind"] == "ConfigMap"
    assert templates["metadata"]["name"] == index["run_templates"] == "demo-run-templates"
    assert templates["metadata"]["namespace"] == index["namespace"] == "taco-charts"
    assert templates["metadata"]["labels"]["taco.dev/bundle-digest"] == index["digest"][:32]
    assert set(templates["data"]) == {"dev.json"}
    assert json.loads(templates["data"]["dev.json"]) == yaml.safe_load(
        (target / "runs" / "dev.yaml").read_text())


def test_rendering_twice_gives_the_same_bytes_and_a_change_a_new_digest(
        site_file: Path) -> None:
    site = load_site(site_file)
    first = render(site, HANDOVER, Path("/k"))
    assert render(site, HANDOVER, Path("/k")).files == first.files
    assert package_chart(site_file.parent / "mychart") == package_chart(
        site_file.parent / "mychart")
    (site_file.parent / "neutron.yaml").write_text("conf: {debug: false}\n", encoding="utf-8")
    assert render(site, HANDOVER, Path("/k")).digest != first.digest


def test_a_changed_run_template_alone_makes_a_new_digest(site_file: Path) -> None:
    # The run templates ConfigMap is applied only with a new digest: it must cover them.
    site = load_site(site_file)
    first = render(site, HANDOVER, Path("/k"))
    longer = site.model_copy(update={"charts": site.charts.model_copy(update={
        "environments": {"dev": ChartEnvironment(timeout="5h")}})})
    changed = render(longer, HANDOVER, Path("/k"))
    assert changed.digest != first.digest
    assert b"5h0m0s" in changed.files["run-templates.yaml"]


def test_engine_hook_writes_the_bundle_only_for_the_handover_phase(
        site_file: Path, tmp_path: Path) -> None:
    site = load_site(site_file)
    record = RunRecord.create("demo", "site", root=tmp_path / "runs")
    record.add_handover("openvswitch", {"openvswitch": HANDOVER["roles"]["openvswitch"]})
    prepare = prepare_phase(site)
    prepare(phase_by_name("tekton"), record)
    assert not (record.path / HANDOVER_BUNDLE_DIR).exists()
    prepare(phase_by_name("handover"), record)
    values = (record.path / HANDOVER_BUNDLE_DIR / "values" / "neutron.taco.yaml").read_text()
    assert "physnet1:br-ex" in values


def test_no_credential_reaches_the_bundle(site_file: Path) -> None:
    site = load_site(site_file)
    leaky = {"roles": {**HANDOVER["roles"], "openvswitch": {"node1": {
        "bridge_mappings_string": "http://admin:hunter2@10.0.0.1/"}}}}
    bundle = render(site, leaky, Path("/k"))
    assert all(b"hunter2" not in data for data in bundle.files.values())
