"""`taco aio --host` on a lab node: the embedded default site, aimed at a disposable node.

Every phase runs, through Kubernetes, the CNI, the labels, Helm, Tekton and Prow (off by
default: it needs GitHub). `--set` points the embedded site at the test artifact mirror
(STAND-IN kubeadm/kubelet/kubectl/helm, Debian's containerd, SHAPE manifests of Tekton) and its
chart repository, picks the host-gw CNI, and gives the role settings a container node on this
machine needs. `taco verify` then passes, and fails naming the piece once one is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import Mirror

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.integration.conftest import Lab

standin_mirror = fixtures.standin_mirror

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_aio")]


def test_aio_on_a_lab_node(lab_factory: Callable[..., Lab], standin_mirror: Mirror) -> None:
    with contextlib.ExitStack() as stack:
        aio_on_a_lab_node(stack, lab_factory, standin_mirror)


def aio_on_a_lab_node(stack: contextlib.ExitStack, lab_factory: Callable[..., Lab],
                      standin_mirror: Mirror) -> None:
    lab = lab_factory(1)
    site = yaml.safe_load(lab.site_file.read_text())
    node = site["nodes"][0]
    gateway = site["networks"]["management"]["gateway"]
    # Helm runs on the node: its chart repository is served where the node reaches this host.
    charts = stack.enter_context(fixtures.serve_directory(
        standin_mirror.directory / "charts", host=gateway))
    # The site's images come from a taco mirror only (no registry is reachable here).
    registry, registry_ca, images = image_mirror(stack, lab.state_dir / "images",
                                                 standin_mirror, gateway, lab.env)
    settings = [f"mirrors.artifacts={standin_mirror.url}",
                f"mirrors.artifact_manifest={standin_mirror.manifest}",
                f"mirrors.registry={registry}", f"mirrors.registry_ca={registry_ca}",
                "kubernetes.cni=host-gw",
                f"helm.repositories=[{{name: taco-test, url: '{charts}'}}]",
                *(f"extra_vars.{name}={json.dumps(value)}"
                  for name, value in site["extra_vars"].items())]
    argv = [sys.executable, "-m", "taco.cli.main", "aio", "--host", node["address"],
            "--cidr", site["networks"]["management"]["cidr"],
            "--key", site["ssh"]["private_key"], "--known-hosts", site["ssh"]["known_hosts"],
            *(arg for setting in settings for arg in ("--set", setting)),
            "--output", "plain"]
    result = subprocess.run(argv, env=lab.env, capture_output=True, text=True, timeout=2400,
                            check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    runs = sorted((lab.state_dir / "runs" / "aio").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    assert summary["command"] == "aio"
    assert [phase["name"] for phase in summary["phases"]] == [
        "preflight", "os_bootstrap", "network", "openvswitch", "storage", "container_runtime",
        "kubernetes", "cni_labels", "helm", "tekton", "prow", "handover"]
    assert all(phase["status"] == "succeeded" for phase in summary["phases"]), summary

    def on_node(*command: str) -> str:
        return subprocess.run(["podman", "exec", f"taco-{lab.name}-node1", *command],
                              capture_output=True, text=True, check=True, timeout=60).stdout

    # The embedded site names its one node "aio"; os_bootstrap wrote it into /etc/hosts.
    assert f"{node['address']}" in on_node("grep", "-w", "aio", "/etc/hosts")
    assert on_node("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"

    # One node that is everything: Ready, schedulable, every OpenStack-Helm label.
    nodes = json.loads(on_node("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get",
                               "nodes", "-o", "json"))["items"]
    assert [item["metadata"]["name"] for item in nodes] == ["aio"]
    aio = nodes[0]
    assert {c["type"]: c["status"] for c in aio["status"]["conditions"]}["Ready"] == "True"
    assert not aio["spec"].get("taints"), aio["spec"]
    labels = aio["metadata"]["labels"]
    for label in ("openstack-control-plane", "openstack-compute-node", "openstack-network-node",
                  "openvswitch", "l3-agent", "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds",
                  "ceph-rgw"):
        assert labels.get(label) == "enabled", (label, labels)
    assert on_node("systemctl", "is-active", "containerd").strip() == "active"
    kubeconfig = lab.state_dir / "kubeconfig" / "aio.conf"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert f"kubeconfig: {kubeconfig}" in result.stdout

    # The handover bundle is in the run record, every file as its index says.
    bundle = runs[-1] / "handover"
    index = json.loads((bundle / "bundle.json").read_text())
    assert index["files"], index
    for entry in index["files"]:
        data = (bundle / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry

    # containerd pulled the pause image by its upstream name, through the mirror (the node
    # reaches no other registry), and pulls any other image of the release the same way.
    ctr = ["ctr", "--namespace", "k8s.io"]
    assert "registry.k8s.io/pause:3.10.1" in on_node(*ctr, "images", "ls", "-q").split()
    tekton_image = next(image for image in images if image.startswith("ghcr.io/tektoncd/"))
    on_node(*ctr, "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", tekton_image)

    # Helm reaches the site's repository; Tekton's controllers are up.
    repos = json.loads(on_node("helm", "repo", "list", "-o", "json"))
    assert [repo["name"] for repo in repos] == ["taco-test"]
    deployments = json.loads(on_node("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                     "get", "deployments", "-n", "tekton-pipelines", "-o",
                                     "json"))["items"]
    assert "tekton-pipelines-controller" in {item["metadata"]["name"] for item in deployments}

    # `taco verify` with the install's own options: green, then red once a piece is gone.
    verify = [sys.executable, "-m", "taco.cli.main", "verify", "--aio", *argv[4:-2],
              "--output", "plain"]
    junit = lab.state_dir / "verify.xml"
    green = subprocess.run([*verify, "--junit-xml", str(junit)], env=lab.env,
                           capture_output=True, text=True, timeout=900, check=False)
    assert green.returncode == 0, green.stdout[-6000:] + green.stderr[-3000:]
    suites = ET.parse(junit).getroot()
    assert int(suites.get("failures", "0")) == 0 and int(suites.get("tests", "0")) > 5
    on_node("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "delete", "deployment",
            "-n", "tekton-pipelines", "tekton-pipelines-controller")
    red = subprocess.run(verify, env=lab.env, capture_output=True, text=True, timeout=900,
                         check=False)
    assert red.returncode == 7, red.stdout[-6000:] + red.stderr[-3000:]
    assert "tekton-pipelines-controller not available" in red.stdout, red.stdout[-6000:]

    # An image the mirror lacks stops the container runtime phase naming image and mirror.
    missing = "registry.k8s.io/not-in-the-mirror:1.0"
    absent = subprocess.run(
        [*argv[:-2], "--set", f"extra_vars.container_runtime_prepull_images=[{missing}]",
         "--only", "container_runtime", "--output", "plain"],
        env=lab.env, capture_output=True, text=True, timeout=900, check=False)
    assert absent.returncode != 0, absent.stdout[-6000:]
    assert missing in absent.stdout and registry in absent.stdout, absent.stdout[-6000:]


def image_mirror(stack: contextlib.ExitStack, work: Path, standin_mirror: Mirror,
                 gateway: str, env: dict[str, str]) -> tuple[str, Path, list[str]]:
    """`taco mirror sync` the test mirror with its images, then `taco mirror serve` it on the
    lab network with TLS from a site CA; returns the registry address, the CA file and the
    images in it.

    The images are built here under their upstream names (tests/standins/images.py) and
    pushed to a loopback registry that plays the upstream registries.
    """
    from images import push_image

    from taco.artifacts.images import release_images
    from taco.artifacts.lock import Lock
    from taco.artifacts.manifest import load_manifest
    from taco.artifacts.registry import start_registry

    upstream = start_registry(work / "upstream")
    stack.callback(upstream.stop)
    expected = release_images(load_manifest(standin_mirror.manifest),
                              load_manifest(standin_mirror.manifest).default_release, Lock(),
                              standin_mirror.directory)
    assert expected.complete and len(expected.images) > 10, expected.incomplete_notes()
    labels = [image.ref.name for image in expected.images]
    for label in labels:
        push_image(work / "build", upstream.endpoint.address, label)
    mirror = work / "mirror"
    taco = [sys.executable, "-m", "taco.cli.main", "mirror"]
    synced = subprocess.run(
        [*taco, "sync", str(mirror), "--manifest", str(standin_mirror.manifest),
         "--from", standin_mirror.url, "--images-from", f"http://{upstream.endpoint.address}",
         "--record-digests", "--lock", str(work / "artifacts.lock.yml")],
        env=env, capture_output=True, text=True, timeout=900, check=False)
    assert synced.returncode == 0, synced.stdout[-4000:] + synced.stderr[-4000:]
    port = fixtures.free_port()
    serve = subprocess.Popen([*taco, "serve", str(mirror), "--bind", gateway, "--port", "0",
                              "--registry-port", str(port), "--ca-dir", str(work / "ca")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    stack.callback(serve.wait, 30)
    stack.callback(serve.terminate)
    assert serve.stdout is not None
    for line in serve.stdout:
        if "serving images at https://" in line:
            break
    else:
        raise AssertionError(f"taco mirror serve exited with {serve.wait()}")
    return f"{gateway}:{port}", work / "ca" / "ca.pem", labels
