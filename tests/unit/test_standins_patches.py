"""kubeadm's patches directory in the kubeadm stand-in: run as executables against node roots.

The taco kubernetes role writes `kube-apiserver+json.json` (an RFC 6902 patch appending
`--bind-address=<management address>`) into a patches directory named by the Init/Join
configuration; these tests run the built stand-in with such directories, and the JSON and
merge patch code in process against the RFCs' own examples.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

from standin.patches import JsonPatchError, json_patch, merge_patch

import fixtures
from fixtures import CRI_SOCKET, StandinCluster, StandinHost, free_port, init_config

if TYPE_CHECKING:
    from collections.abc import Callable

standin_bin = fixtures.standin_bin
standin_cluster = fixtures.standin_cluster
standin_host = fixtures.standin_host
standin_host_factory = fixtures.standin_host_factory

PATCHES = "/etc/kubernetes/taco-patches"
BIND = [{"op": "add", "path": "/spec/containers/0/command/-", "value": "--bind-address=127.0.0.1"}]
TARGETS = ("[etcd kube-apiserver kube-controller-manager kube-scheduler kubeletconfiguration "
           "corednsdeployment]")


def patched_init_config(port: int, cluster_extra: str = "") -> str:
    """The fixtures' init config with `patches.directory` set (and extra ClusterConfiguration)."""
    text = init_config(port).replace("timeouts:", f"patches: {{directory: {PATCHES}}}\ntimeouts:",
                                     1)
    return text.replace("kubernetesVersion: v1.35.4\n",
                        "kubernetesVersion: v1.35.4\n" + cluster_extra, 1)


def write_patches(standin: StandinHost, files: dict[str, str]) -> None:
    directory = standin.path(PATCHES)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def wrote_nothing(standin: StandinHost) -> bool:
    """Nothing but the patches directory under /etc/kubernetes, and no /var/lib/kubelet."""
    patches = standin.path(PATCHES)
    written = [p for p in standin.path("/etc/kubernetes").rglob("*")
               if p != patches and patches not in p.parents]
    return not written and not standin.path("/var/lib/kubelet").exists()


def manifest(standin: StandinHost, name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(standin.path(f"/etc/kubernetes/manifests/{name}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


# -- init with patches -------------------------------------------------------------------------


def test_init_applies_json_and_merge_patches(standin_host: StandinHost) -> None:
    port = free_port()
    write_patches(standin_host, {
        "kube-apiserver+json.json": json.dumps(BIND),
        "etcd+merge.yaml": "metadata:\n  annotations:\n    taco.test/patched: 'yes'\n"
                           "spec:\n  priority: null\n",
        "kubeletconfiguration+merge.yaml": "maxPods: 42\n",
        "corednsdeployment+json.yaml": "- {op: replace, path: /spec/replicas, value: 1}\n",
        "kube-proxy+json.json": "[]",
        "notes.txt": "not a patch",
    })
    # extraArgs set bind-address too: the patch appends a second one, and the last one wins.
    config = standin_host.root / "kubeadm.yaml"
    config.write_text(patched_init_config(
        port, "apiServer:\n  extraArgs: [{name: bind-address, value: 0.0.0.0}]\n"))
    standin_host.supervise_kubelet()
    result = standin_host.run("kubeadm", "init", "--config", str(config), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr + standin_host.logs()

    out = result.stdout
    assert f'[patches] Reading patches from path "{PATCHES}"' in out
    assert (f'[patches] Ignoring file "kube-proxy+json.json": unknown target, must be one of '
            f"{TARGETS}") in out
    assert ('[patches] Ignoring file "notes.txt": the file extension must be one of '
            "[json yaml]") in out
    assert ("[patches] Found the following patch files: [corednsdeployment+json.yaml "
            "etcd+merge.yaml kube-apiserver+json.json kubeletconfiguration+merge.yaml]") in out
    for kind, target in (("json-patch", "kube-apiserver"), ("merge-patch", "etcd"),
                         ("merge-patch", "kubeletconfiguration"),
                         ("json-patch", "corednsdeployment")):
        assert (f'[patches] Applied patch of type "application/{kind}+json" to target '
                f'"{target}"') in out
    # kubeadm's order: the etcd manifest is announced, then patched, then the control plane.
    assert out.index("[etcd] Creating static Pod manifest") < out.index("[patches] Reading") \
        < out.index('Creating static Pod manifest for "kube-apiserver"')

    command = manifest(standin_host, "kube-apiserver")["spec"]["containers"][0]["command"]
    assert command[-1] == "--bind-address=127.0.0.1"
    assert "--bind-address=0.0.0.0" in command[:-1]
    etcd = manifest(standin_host, "etcd")
    assert etcd["metadata"]["annotations"]["taco.test/patched"] == "yes"
    assert "priority" not in etcd["spec"]
    assert etcd["spec"]["priorityClassName"] == "system-node-critical"
    scheduler = manifest(standin_host, "kube-scheduler")["spec"]["containers"][0]["command"]
    assert [flag for flag in scheduler if flag.startswith("--bind-address=")] == [
        "--bind-address=127.0.0.1"]  # kubeadm's own flag: the patch targets the apiserver only

    # The apiserver the kubelet started took the last --bind-address (pflag: last one wins).
    logs = "\n".join(p.read_text() for p in standin_host.root.glob(
        "var/log/pods/kube-system_kube-apiserver-*/*.log"))
    assert f"serving on 127.0.0.1:{port}," in logs, logs

    # The patched KubeletConfiguration is this node's; the cluster-wide one is not patched.
    kubelet = yaml.safe_load(standin_host.path("/var/lib/kubelet/config.yaml").read_text())
    assert kubelet["maxPods"] == 42
    shared = standin_host.kubectl("get", "configmap", "kubelet-config", "-n", "kube-system",
                                  "-o", "jsonpath={.data.kubelet}")
    assert shared.returncode == 0, shared.stderr
    assert "maxPods" not in shared.stdout
    deadline = time.monotonic() + 30
    capacity = ""
    while time.monotonic() < deadline and capacity != "42":
        capacity = standin_host.kubectl("get", "node", "node1", "-o",
                                        "jsonpath={.status.capacity.pods}").stdout
        time.sleep(0.5)
    assert capacity == "42"
    replicas = standin_host.kubectl("get", "deployment", "coredns", "-n", "kube-system", "-o",
                                    "jsonpath={.spec.replicas}")
    assert replicas.stdout == "1", replicas.stderr


FAILURES = {
    "strategic patch": (
        {"kube-apiserver.yaml": "spec:\n  hostNetwork: true\n"},
        [f'"{PATCHES}/kube-apiserver.yaml" is a strategic merge patch',
         "the STAND-IN kubeadm implements only +json (RFC 6902) and +merge (RFC 7386) patches",
         "kube-apiserver+merge.yaml"]),
    "explicit strategic patch": (
        {"kube-scheduler-extra+strategic.json": "{}"},
        ["is a strategic merge patch", "kube-scheduler-extra+json.json"]),
    "bad json pointer": (
        {"kube-apiserver+json.json": json.dumps(
            [{"op": "add", "path": "/spec/containers/0/commands/-", "value": "--v=2"}])},
        ["error execution phase control-plane: failed to patch static Pod manifest file for "
         '"kube-apiserver": could not apply the following patch of type '
         '"application/json-patch+json" to target "kube-apiserver" '
         f'(file "{PATCHES}/kube-apiserver+json.json")',
         'add operation does not apply: doc is missing path: "/spec/containers/0/commands/-"']),
    "failed test operation": (
        {"etcd+json.yaml": "- {op: test, path: /metadata/name, value: not-etcd}\n"},
        ['error execution phase etcd: failed to patch static Pod manifest file for "etcd"',
         f'(file "{PATCHES}/etcd+json.yaml")', "testing value /metadata/name failed"]),
    "unknown patch type": (
        {"kube-apiserver+strat.json": "[]"},
        [f'could not list patch files for path "{PATCHES}": file '
         f'"{PATCHES}/kube-apiserver+strat.json": unknown or missing patch type after \'+\', '
         "must be one of [json merge strategic]"]),
    "merge patch that is not a Pod any more": (
        {"kube-scheduler+merge.json": '{"kind": "Deployment"}'},
        ['failed to patch static Pod manifest file for "kube-scheduler": patched manifest is '
         "not a valid Pod object"]),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_init_refuses_a_bad_patch_before_writing(standin_host: StandinHost, case: str) -> None:
    files, expected = FAILURES[case]
    write_patches(standin_host, files)
    config = standin_host.root / "kubeadm.yaml"
    config.write_text(patched_init_config(free_port()))
    result = standin_host.run("kubeadm", "init", "--config", str(config))
    assert result.returncode == 1, result.stdout
    for text in expected:
        assert text in result.stderr
    assert wrote_nothing(standin_host)


def test_init_refuses_a_missing_patches_directory(standin_host: StandinHost) -> None:
    config = standin_host.root / "kubeadm.yaml"
    config.write_text(patched_init_config(free_port()))
    result = standin_host.run("kubeadm", "init", "--config", str(config))
    assert result.returncode == 1
    assert ('error execution phase etcd: failed to patch static Pod manifest file for "etcd": '
            f'could not list patch files for path "{PATCHES}": lstat {PATCHES}: no such file '
            "or directory") in result.stderr
    assert wrote_nothing(standin_host)
    # A file where the directory should be is refused too.
    standin_host.path(PATCHES).parent.mkdir(parents=True, exist_ok=True)
    standin_host.path(PATCHES).write_text("")
    result = standin_host.run("kubeadm", "init", "--config", str(config))
    assert "getPatchSetsFromPath taco-patches: not a directory" in result.stderr
    assert wrote_nothing(standin_host)


def test_config_validate_accepts_patches(standin_host: StandinHost) -> None:
    config = standin_host.root / "kubeadm.yaml"
    config.write_text(patched_init_config(free_port()))
    result = standin_host.run("kubeadm", "config", "validate", "--config", str(config))
    assert result.returncode == 0, result.stderr


# -- join with patches -------------------------------------------------------------------------


def join_config(cluster: StandinCluster, name: str, *, plane_port: int | None = None) -> str:
    command = cluster.join_command()
    token = command[command.index("--token") + 1]
    pin = command[command.index("--discovery-token-ca-cert-hash") + 1]
    text = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n"
            f"discovery:\n  bootstrapToken: {{token: {token}, apiServerEndpoint: "
            f"'127.0.0.1:{cluster.port}', caCertHashes: ['{pin}']}}\n"
            f"nodeRegistration: {{name: {name}, criSocket: {CRI_SOCKET}}}\n"
            f"patches: {{directory: {PATCHES}}}\n"
            "timeouts: {controlPlaneComponentHealthCheck: 60s, tlsBootstrap: 60s}\n")
    if plane_port is not None:
        text += (f"controlPlane:\n  localAPIEndpoint: {{advertiseAddress: 127.0.0.1, "
                 f"bindPort: {plane_port}}}\n  certificateKey: {cluster.certificate_key}\n")
    return text


def test_worker_join_refuses_a_missing_patches_directory(
        standin_cluster: StandinCluster, standin_host_factory: Callable[..., StandinHost]
) -> None:
    worker = standin_host_factory("node7")
    config = worker.root / "join.yaml"
    config.write_text(join_config(standin_cluster, "node7"))
    result = worker.run("kubeadm", "join", "--config", str(config))
    assert result.returncode == 1
    assert ("error execution phase kubelet-start: could not apply patches to the "
            f'KubeletConfiguration: could not list patch files for path "{PATCHES}"'
            ) in result.stderr
    assert wrote_nothing(worker)


def test_control_plane_join_applies_the_bind_address_patch(
        standin_cluster: StandinCluster, standin_host_factory: Callable[..., StandinHost]
) -> None:
    second = standin_host_factory("node8")
    write_patches(second, {"kube-apiserver+json.json": json.dumps(BIND)})
    config = second.root / "join.yaml"
    port = free_port()
    config.write_text(join_config(standin_cluster, "node8", plane_port=port))
    second.supervise_kubelet()
    result = second.run("kubeadm", "join", "--config", str(config), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr + second.logs()
    assert ('[patches] Applied patch of type "application/json-patch+json" to target '
            '"kube-apiserver"') in result.stdout
    command = manifest(second, "kube-apiserver")["spec"]["containers"][0]["command"]
    assert command[-1] == "--bind-address=127.0.0.1"
    logs = "\n".join(p.read_text() for p in second.root.glob(
        "var/log/pods/kube-system_kube-apiserver-*/*.log"))
    assert f"serving on 127.0.0.1:{port}," in logs, logs


# -- the patch algorithms, in process (RFC 6902 and RFC 7386 examples) --------------------------


@pytest.mark.parametrize(("document", "patch", "expected"), [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
     {"foo": "bar", "baz": "qux"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc"]}],
     {"foo": ["bar", ["abc"]]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ({"baz": "qux"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10},
                          {"op": "remove", "path": "/~1"}], {"~1": 10}),
    ({"foo": 1}, [{"op": "add", "path": "", "value": {"bar": 2}}], {"bar": 2}),
])
def test_json_patch_follows_rfc_6902(document: Any, patch: Any, expected: Any) -> None:
    before = json.dumps(document)
    assert json_patch(document, patch) == expected
    assert json.dumps(document) == before  # the input is not changed


@pytest.mark.parametrize(("patch", "message"), [
    ([{"op": "add", "path": "/a/b/c", "value": 1}],
     'add operation does not apply: doc is missing path: "/a/b/c"'),
    ([{"op": "remove", "path": "/missing"}], "Unable to remove nonexistent key: missing"),
    ([{"op": "replace", "path": "/missing", "value": 1}], "doc is missing key: /missing"),
    ([{"op": "test", "path": "/n", "value": True}], "testing value /n failed"),
    ([{"op": "add", "path": "/list/3", "value": 1}], "Unable to access invalid index: 3"),
    ([{"op": "add", "path": "/list/01", "value": 1}], "not a proper array index: '01'"),
    ([{"op": "move", "from": "/list", "path": "/list/0"}], "is inside the moved value /list"),
    ([{"op": "add", "path": "/x"}], "add operation, missing value field"),
    ([{"op": "frob", "path": "/x"}], "Unexpected kind: frob"),
    ({"op": "add", "path": "/x", "value": 1}, "cannot unmarshal object into Go value"),
])
def test_json_patch_errors(patch: Any, message: str) -> None:
    with pytest.raises(JsonPatchError) as caught:
        json_patch({"n": 1, "list": [1, 2]}, patch)
    assert message in str(caught.value)


@pytest.mark.parametrize(("target", "patch", "expected"), [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected
