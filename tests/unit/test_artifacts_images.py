"""Container images: reference parsing, the images a manifest pulls, a release's image list.

Extraction runs on the SHAPE manifests under tests/fixtures/ (the form the test mirror
serves) and on hand-written manifests in the form upstream ships (digest-pinned Tekton
controller flags, Prow's utility_images). `release_images` reads a real temporary
mirror directory laid out as `taco mirror sync` writes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from sitetext import ONE_NODE_SITE, PROW_CHARTS, PROW_ENABLED

from taco.artifacts.images import (
    ExpectedImage,
    ImageRef,
    InvalidImageRef,
    absent_manifest_files,
    images_in_manifest,
    release_images,
    site_named_images,
)
from taco.artifacts.lock import Lock, load_lock, save_lock
from taco.artifacts.manifest import ManifestInvalid, default_manifest_path, load_manifest
from taco.errors import ArtifactError
from taco.site.load import load_site_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
D1 = "sha256:" + "1a" * 32
D2 = "sha256:" + "2b" * 32
D3 = "sha256:" + "3c" * 32


# -- references -----------------------------------------------------------------------

GOOD = [
    ("nginx", "docker.io", "library/nginx", "latest", None),
    ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
    ("minio/minio", "docker.io", "minio/minio", "latest", None),
    ("index.docker.io/library/alpine:3.20", "docker.io", "library/alpine", "3.20", None),
    ("quay.io/calico/node:v3.31.5", "quay.io", "calico/node", "v3.31.5", None),
    (f"ghcr.io/x/y:v1@{D1}", "ghcr.io", "x/y", "v1", D1),
    (f"cgr.dev/chainguard/busybox@{D2}", "cgr.dev", "chainguard/busybox", None, D2),
    ("host:5000/a/b", "host:5000", "a/b", "latest", None),
    ("localhost/a:dev", "localhost", "a", "dev", None),
    ("10.77.0.1:5000/pause:3.10.1", "10.77.0.1:5000", "pause", "3.10.1", None),
    ("registry.k8s.io/coredns/coredns:v1.13.1", "registry.k8s.io", "coredns/coredns",
     "v1.13.1", None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), GOOD,
                         ids=[g[0][:40] for g in GOOD])
def test_references_parse_and_normalise(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag,
                                                                    digest)
    name = f"{registry}/{repository}" + (f":{tag}" if tag else "")
    assert ref.name == name
    assert str(ref) == (f"{name}@{digest}" if digest else name)
    assert ImageRef.parse(str(ref)) == ref, "the normalised form parses to itself"
    assert ref.without_digest().digest is None


BAD = [
    ("", "empty"),
    ("   ", "empty"),
    ("quay.io/Calico/node:v1", "lowercase"),
    ("nginx:", "tag"),
    ("nginx:-x", "tag"),
    ("quay.io/calico/node@sha256:abc", "64"),
    ("quay.io/calico/node@md5:" + "a" * 32, "sha256"),
    ("quay.io//node", "not a valid repository part"),
    ("quay.io/", "names no repository"),
    ("bad_host.io:5000/x", "registry host"),
    ("nginx latest", "white space"),
    ("quay.io/a--/b", "not a valid repository part"),
]


@pytest.mark.parametrize(("text", "phrase"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_garbage_is_rejected_with_a_reason(text: str, phrase: str) -> None:
    with pytest.raises(InvalidImageRef) as raised:
        ImageRef.parse(text)
    assert phrase in str(raised.value)


# -- images a manifest pulls ------------------------------------------------------------


def _shape(name: str) -> list[str]:
    path = FIXTURES / name
    return images_in_manifest(path.read_text(), str(path))


def test_calico_shape_images_come_from_init_containers_and_containers() -> None:
    assert _shape("cni/calico-shape.yaml") == [
        "quay.io/calico/cni:v3.31.5",
        "quay.io/calico/kube-controllers:v3.31.5",
        "quay.io/calico/node:v3.31.5",
    ]


def test_tekton_pipelines_shape_includes_the_controller_flag_images() -> None:
    images = _shape("tekton/pipelines-shape.yaml")
    text = (FIXTURES / "tekton/pipelines-shape.yaml").read_text()
    # Every image-looking word of the file is found, and nothing else.
    in_text = {word for line in text.splitlines() for word in line.split()
               if word.startswith(("ghcr.io/", "cgr.dev/"))}
    assert {i.rsplit(":", 1)[0] if i.endswith(":latest") else i for i in images} == in_text
    flags = [i for i in images if "/entrypoint-" in i or "/nop-" in i
             or "/sidecarlogresults-" in i or "/workingdirinit-" in i]
    assert len(flags) == 4
    assert "cgr.dev/chainguard/busybox:latest" in images
    assert images == sorted(set(images))


def test_tekton_triggers_shape_includes_the_eventlistener_image() -> None:
    images = _shape("tekton/triggers-shape.yaml")
    assert any("/eventlistenersink-" in i for i in images)
    assert len(images) == 3
    assert _shape("tekton/interceptors-shape.yaml") == [
        "ghcr.io/tektoncd/triggers/interceptors-8ba3aa1e57f3e8b7fa64ba2a7b6ef8a6:v0.37.0"]


def test_prow_starter_shape_lists_components_and_minio() -> None:
    images = _shape("prow/starter-shape.yaml")
    components = {i.split("/")[-1].split(":")[0] for i in images
                  if i.startswith("us-docker.pkg.dev/k8s-infra-prow/images/")}
    assert components == {"hook", "sinker", "deck", "horologium", "tide", "status-reconciler",
                          "ghproxy", "prow-controller-manager", "crier"}
    assert {i.split(":")[-1] for i in images if "k8s-infra-prow" in i} == \
        {"v20240802-66b115076"}
    assert "docker.io/library/alpine:latest" in images
    assert "docker.io/minio/minio:latest" in images
    assert _shape("prow/prowjob-crd-shape.yaml") == []


REALISTIC = f"""\
# upstream-style: flow lists, digests, init containers, a CronJob, a Windows-only flag
apiVersion: v1
kind: ConfigMap
metadata: {{name: config-defaults}}
data:
  _example: |
    default-pod-template:
      containers: [{{image: example.org/never:1}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: tekton-pipelines-controller, namespace: tekton-pipelines}}
spec:
  template:
    spec:
      initContainers:
        - name: prepare
          image: ghcr.io/x/prepare:v1@{D1}
      containers:
        - name: controller
          image: "ghcr.io/tektoncd/pipeline/controller-abc:v1.15.0@{D2}"
          args: ["-entrypoint-image", "ghcr.io/tektoncd/pipeline/entrypoint-abc:v1.15.0@{D3}",
                 "-shell-image", "cgr.dev/chainguard/busybox@{D1}",
                 "-shell-image-win", "mcr.microsoft.com/powershell:nanoserver@{D2}",
                 "--nop-image=ghcr.io/tektoncd/pipeline/nop-abc:v1.15.0",
                 "-el-port", "8080", "-skip-image", "true", "-threads-per-controller", "2"]
          env:
            - {{name: SYSTEM_NAMESPACE, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
            - {{name: GIT_IMAGE, value: "quay.io/org/git-init:v2"}}
            - {{name: NOT_AN_IMAGE_NAME, value: "quay.io/org/ignored:v1"}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: cleanup}}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{{name: c, image: "nginx"}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{namespace: prow, name: config}}
data:
  config.yaml: |
    plank:
      default_decoration_config_entries:
      - config:
          utility_images:
            clonerefs: us-docker.pkg.dev/k8s-infra-prow/images/clonerefs:v20240802-66b115076
            sidecar: us-docker.pkg.dev/k8s-infra-prow/images/sidecar:v20240802-66b115076
    periodics:
    - name: echo-test
      spec:
        containers:
        - image: alpine
"""


def test_a_realistic_manifest_yields_exactly_what_the_cluster_pulls() -> None:
    assert images_in_manifest(REALISTIC) == sorted([
        f"ghcr.io/x/prepare:v1@{D1}",
        f"ghcr.io/tektoncd/pipeline/controller-abc:v1.15.0@{D2}",
        f"ghcr.io/tektoncd/pipeline/entrypoint-abc:v1.15.0@{D3}",
        f"cgr.dev/chainguard/busybox@{D1}",
        "ghcr.io/tektoncd/pipeline/nop-abc:v1.15.0",
        "quay.io/org/git-init:v2",
        "docker.io/library/nginx:latest",
        "us-docker.pkg.dev/k8s-infra-prow/images/clonerefs:v20240802-66b115076",
        "us-docker.pkg.dev/k8s-infra-prow/images/sidecar:v20240802-66b115076",
    ])


def test_same_image_twice_is_listed_once() -> None:
    text = ("kind: Pod\nspec:\n  containers:\n  - {image: nginx}\n  - {image: "
            "docker.io/library/nginx:latest}\n---\nkind: Pod\nspec:\n  containers:\n"
            "  - {image: 'nginx:latest'}\n")
    assert images_in_manifest(text) == ["docker.io/library/nginx:latest"]


def test_a_bad_container_image_names_the_object_and_the_container() -> None:
    text = ("kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
            "      containers:\n      - {name: app, image: 'Web/App:1'}\n")
    with pytest.raises(ArtifactError) as raised:
        images_in_manifest(text, "calico.yaml")
    message = str(raised.value)
    assert "calico.yaml: Deployment web, container app" in message
    assert "lowercase" in message


def test_yaml_that_does_not_parse_is_an_artifact_error() -> None:
    with pytest.raises(ArtifactError, match=r"x\.yaml: not valid YAML"):
        images_in_manifest("kind: [unclosed\n", "x.yaml")


# -- a release's images -----------------------------------------------------------------

MANIFEST = """\
schema: 1
default_release: "1.35"
releases:
  "1.35": {kubeadm: 1.35.4, pause: 3.10.1, calico: 3.31.5, tekton_pipelines: 1.15.0}
artifacts:
  kubeadm:
    kind: binary
    url: https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubeadm
    versions:
      "1.35.4": {amd64: AAA, arm64: BBB}
  calico_manifest:
    kind: manifest
    component: calico
    url: https://example.org/calico/v{version}/calico.yaml
    versions:
      "3.31.5": {all: recorded}
  tekton_pipelines:
    kind: manifest
    url: https://example.org/tekton/v{version}/release.yaml
    versions:
      "1.15.0": {all: recorded}
images:
  kube_apiserver:
    component: kubeadm
    ref: registry.k8s.io/kube-apiserver:v{version}
  pause:
    ref: registry.k8s.io/pause:{version}
    digests: {"3.10.1": PAUSE}
""".replace("AAA", "a" * 64).replace("BBB", "b" * 64).replace("PAUSE", "9f" * 32)

CALICO = """\
kind: DaemonSet
metadata: {name: calico-node}
spec:
  template:
    spec:
      initContainers: [{name: cni, image: "quay.io/calico/cni:v3.31.5"}]
      containers: [{name: node, image: "quay.io/calico/node:v3.31.5"}]
---
kind: Pod
metadata: {name: stray}
spec:
  containers: [{name: p, image: "registry.k8s.io/pause:3.10.1"}]
"""


def _mirror(tmp_path: Path, *, tekton: bool = True) -> tuple[Path, Path]:
    manifest_path = tmp_path / "artifacts.yml"
    manifest_path.write_text(MANIFEST)
    mirror = tmp_path / "mirror"
    calico = mirror / "calico_manifest/3.31.5/all/calico.yaml"
    calico.parent.mkdir(parents=True)
    calico.write_text(CALICO)
    if tekton:
        release = mirror / "tekton_pipelines/1.15.0/all/release.yaml"
        release.parent.mkdir(parents=True)
        release.write_text(REALISTIC)
    return manifest_path, mirror


def test_listed_images_only_without_a_mirror(tmp_path: Path) -> None:
    manifest_path, _ = _mirror(tmp_path)
    manifest = load_manifest(manifest_path)
    lock = Lock()
    lock.record_image("registry.k8s.io/kube-apiserver:v1.35.4", D1)
    images = release_images(manifest, "1.35", lock, None).images
    assert [(i.name, str(i.ref), i.digest, i.source, i.recorded) for i in images] == [
        ("kube_apiserver", "registry.k8s.io/kube-apiserver:v1.35.4", D1, "lock", True),
        ("pause", "registry.k8s.io/pause:3.10.1", "sha256:" + "9f" * 32, "manifest", False),
    ]
    assert images[0].pull == f"registry.k8s.io/kube-apiserver:v1.35.4@{D1}"


def test_release_images_derive_from_the_mirrored_manifests(tmp_path: Path) -> None:
    manifest_path, mirror = _mirror(tmp_path)
    manifest = load_manifest(manifest_path)
    lock = Lock()
    lock.record_image("quay.io/calico/node:v3.31.5", D3)
    result = release_images(manifest, "1.35", lock, mirror)
    assert result.complete and not result.incomplete_notes()
    by_ref = {i.ref.name if i.ref.tag else i.pull: i for i in result.images}
    assert len(by_ref) == len(result.images), "each image once"
    # The pause image the calico file also names stays the listed one, with its digest.
    pause = by_ref["registry.k8s.io/pause:3.10.1"]
    assert (pause.name, pause.source, pause.derived_from) == ("pause", "manifest", None)
    node = by_ref["quay.io/calico/node:v3.31.5"]
    assert (node.name, node.digest, node.source, node.recorded, node.derived_from) == \
        ("calico_manifest", D3, "lock", True, "calico_manifest 3.31.5")
    cni = by_ref["quay.io/calico/cni:v3.31.5"]
    assert (cni.digest, cni.source, cni.recorded) == \
        (None, "derived from calico_manifest 3.31.5", False)
    controller = by_ref["ghcr.io/tektoncd/pipeline/controller-abc:v1.15.0"]
    assert (controller.digest, controller.source, str(controller.ref)) == \
        (D2, "in reference", "ghcr.io/tektoncd/pipeline/controller-abc:v1.15.0")
    busybox = by_ref[f"cgr.dev/chainguard/busybox@{D1}"]
    assert busybox.ref.tag is None and busybox.digest == D1
    assert busybox.pull == f"cgr.dev/chainguard/busybox@{D1}"
    expected = {*(i for i in images_in_manifest(CALICO)),
                *(i for i in images_in_manifest(REALISTIC)),
                "registry.k8s.io/kube-apiserver:v1.35.4"}
    assert {i.pull if i.source == "in reference" else i.ref.name for i in result.images} == \
        expected


def test_a_manifest_file_absent_from_the_mirror_is_reported(tmp_path: Path) -> None:
    manifest_path, mirror = _mirror(tmp_path, tekton=False)
    manifest = load_manifest(manifest_path)
    result = release_images(manifest, "1.35", Lock(), mirror)
    assert not result.complete
    assert result.absent_manifests == ["tekton_pipelines/1.15.0/all/release.yaml"]
    assert [f.path for f in absent_manifest_files(manifest, "1.35", mirror)] == \
        result.absent_manifests
    assert result.absent_files[0].name == "tekton_pipelines"
    [note] = result.incomplete_notes()
    assert "derived image list incomplete: tekton_pipelines/1.15.0/all/release.yaml" in note
    assert not any(i.name == "tekton_pipelines" for i in result.images)
    assert any(i.name == "calico_manifest" for i in result.images)


def test_a_mirrored_manifest_with_a_bad_image_names_the_file(tmp_path: Path) -> None:
    manifest_path, mirror = _mirror(tmp_path, tekton=False)
    path = mirror / "calico_manifest/3.31.5/all/calico.yaml"
    path.write_text(CALICO.replace("quay.io/calico/node", "quay.io/Calico/node"))
    with pytest.raises(ArtifactError) as raised:
        release_images(load_manifest(manifest_path), "1.35", Lock(), mirror)
    assert str(path) in str(raised.value)


def test_packaged_manifest_lists_kubeadms_images_for_every_release() -> None:
    manifest = load_manifest(default_manifest_path())
    for release in manifest.releases:
        found = release_images(manifest, release, Lock(), None)
        assert found.complete, "no mirror: nothing derived, nothing absent"
        refs = {i.name: i.ref for i in found}
        version = manifest.kubernetes_version(release)
        assert set(refs) == {"kube_apiserver", "kube_controller_manager", "kube_scheduler",
                             "kube_proxy", "etcd", "coredns", "pause"}
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                          "kube-proxy"):
            ref = refs[component.replace("-", "_")]
            assert (ref.registry, ref.repository, ref.tag) == \
                ("registry.k8s.io", component, f"v{version}")
        assert refs["coredns"].repository == "coredns/coredns"
        assert refs["etcd"].tag == manifest.releases[release]["etcd_image"]
        assert refs["pause"].tag == manifest.releases[release]["pause"]


# -- the lock file ----------------------------------------------------------------------


def test_lock_images_round_trip_beside_file_digests(tmp_path: Path) -> None:
    lock = Lock()
    lock.record("calico_manifest", "3.31.5", "all", "4f" * 32, "https://example.org/c.yaml")
    lock.record_image("registry.k8s.io/pause:3.10.1", D1)
    lock.record_image("quay.io/calico/node:v3.31.5", D2)
    path = tmp_path / "lock.yml"
    save_lock(path, lock)
    again = load_lock(path)
    assert again.image_digest("registry.k8s.io/pause:3.10.1") == D1
    assert again.image_digest("quay.io/calico/node:v3.31.5") == D2
    assert again.image_digest("quay.io/calico/cni:v3.31.5") is None
    assert again.digest("calico_manifest", "3.31.5", "all") == "4f" * 32
    data = yaml.safe_load(path.read_text())
    assert list(data["images"]) == sorted(data["images"])


def test_an_old_lock_without_images_loads_and_is_saved_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "lock.yml"
    original = FIXTURES / "artifacts" / "site" / "artifacts.lock.yml"
    path.write_text(original.read_text())
    lock = load_lock(path)
    assert lock.images == {} and lock.digests
    save_lock(path, lock)
    assert "images" not in yaml.safe_load(path.read_text())
    assert load_lock(path).digests == lock.digests


def test_a_bad_image_digest_in_the_lock_names_file_field_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "lock.yml"
    path.write_text("schema: 1\ndigests: {}\nimages:\n  registry.k8s.io/pause:3.10.1: "
                    f"{'ab' * 32}\n")
    with pytest.raises(ManifestInvalid) as raised:
        load_lock(path)
    issue = raised.value.issues[0]
    assert issue.file == str(path)
    assert issue.path.startswith("images")
    assert issue.line == 4
    assert "sha256:" in issue.hint


def test_record_image_refuses_a_malformed_digest() -> None:
    with pytest.raises(ValueError, match="sha256"):
        Lock().record_image("registry.k8s.io/pause:3.10.1", hashlib.sha256(b"x").hexdigest())


# -- images the site's settings name ----------------------------------------------------

def _prow_component(tag: str) -> ExpectedImage:
    ref = ImageRef.parse(f"us-docker.pkg.dev/k8s-infra-prow/images/hook:{tag}")
    return ExpectedImage("prow_starter", ref, None, "derived from prow_starter x", False, "x")


def test_a_site_without_charts_or_prow_names_no_images() -> None:
    site = load_site_text(ONE_NODE_SITE, "site.yml")
    assert site_named_images(site, [], Lock()) == []


def test_charts_and_prow_name_their_images_at_the_components_tag(tmp_path: Path) -> None:
    (tmp_path / "secrets.yml").write_text("hmac_token: x\n")
    site = load_site_text(ONE_NODE_SITE + PROW_CHARTS + PROW_ENABLED, "site.yml",
                          base_dir=tmp_path)
    lock = Lock()
    lock.record_image("docker.io/alpine/k8s:1.35.4", "sha256:" + "b" * 64)
    named = site_named_images(site, [_prow_component("v20240802-66b115076")], lock)
    by_name = {image.ref.name: image for image in named}
    assert set(by_name) == {
        "docker.io/alpine/helm:3.18.4", "docker.io/alpine/k8s:1.35.4",
        *(f"us-docker.pkg.dev/k8s-infra-prow/images/{name}:v20240802-66b115076"
          for name in ("clonerefs", "entrypoint", "initupload", "sidecar"))}
    assert by_name["docker.io/alpine/k8s:1.35.4"].digest == "sha256:" + "b" * 64
    assert by_name["docker.io/alpine/helm:3.18.4"].source == (
        "named by the site (charts.helm_image)")
    # An image the release already has is not listed twice.
    helm = ExpectedImage("x", ImageRef.parse("docker.io/alpine/helm:3.18.4"), None, "lock",
                         False)
    again = site_named_images(site, [helm, _prow_component("v1")], Lock())
    assert "docker.io/alpine/helm:3.18.4" not in {image.ref.name for image in again}
