"""The artifact manifest, its lock file and how a site resolves into `taco_artifacts`.

Bad manifests under tests/fixtures/artifacts/bad/ each hold one mistake; the table
says where taco must point (file, field path, line) and what the fix must say.
The resolution golden (tests/fixtures/artifacts/resolved-site.yml) is refreshed with

    TACO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_artifacts_manifest.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from taco.artifacts.lock import Lock, load_lock, save_lock
from taco.artifacts.manifest import (
    ALL,
    ARCHITECTURES,
    RECORDED,
    ManifestInvalid,
    default_manifest_path,
    load_manifest,
)
from taco.artifacts.resolve import (
    mirror_url,
    missing_digests,
    release_files,
    site_artifacts,
    site_files,
    site_images,
    site_release,
)
from taco.errors import SiteInvalid, SiteIssue
from taco.inventory.build import build_inventory
from taco.site.load import load_site

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts"
BAD = FIXTURES / "bad"
REPO = Path(__file__).resolve().parents[2]

# fixture, field path, line, phrase (in message or hint), number of issues
CASES: list[tuple[str, str, int | None, str, int]] = [
    ("unknown_key.yml", "artifacts.kubeadm.ulr", 8, "did you mean 'url'?", 2),
    ("release_unquoted.yml", 'releases["1.35"]', 4, 'quote it: "1.35"', 1),
    ("digest_short.yml", 'artifacts.kubeadm.versions["1.35.4"].amd64', 10,
     "64 lowercase hex digits", 1),
    ("arch_unknown.yml", 'artifacts.kubeadm.versions["1.35.4"].x86_64', 10,
     "use amd64 and arm64", 1),
    ("kind_enum.yml", "artifacts.kubeadm.kind", 7, "allowed: binary, archive, manifest, deb", 1),
    ("release_version_missing.yml", 'releases["1.35"].kubeadm', 4,
     "add \"1.35.9\" with its digests under artifacts.kubeadm.versions", 1),
    ("component_unknown.yml", 'releases["1.35"].calicoo', 4, "did you mean 'calico'?", 1),
    ("default_release_missing.yml", "default_release", 2, "use one of: 1.35", 1),
    ("kubeadm_wrong_minor.yml", 'releases["1.35"].kubeadm', 4, "pin a 1.35.N version", 1),
    ("url_without_arch.yml", 'artifacts.kubeadm.versions["1.35.4"]', 10,
     "put {arch} in the URL", 1),
    ("filename_depends_on_arch.yml", "artifacts.kubeadm.url", 8, "set filename: without {arch}",
     1),
    ("all_mixed_with_arch.yml", 'artifacts.calico_manifest.versions["3.31.5"]', 16,
     "use all: alone", 1),
    ("schema_version.yml", "schema", 1, "allowed: 1", 1),
    ("url_not_http.yml", "artifacts.calico_manifest.url", 14, "full URL template", 1),
    ("duplicate_key.yml", "artifacts.calico_manifest.kind", 13, "keep one of them", 1),
    ("yaml_syntax.yml", "(top level)", 4, "fix the YAML syntax", 1),
    ("empty.yml", "(top level)", None, "start with schema: 1", 1),
]


def _issues(path: Path) -> list[SiteIssue]:
    with pytest.raises(ManifestInvalid) as raised:
        load_manifest(path)
    return raised.value.issues


@pytest.mark.parametrize(
    ("fixture", "field", "line", "phrase", "count"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_manifest_names_file_field_line_and_fix(
    fixture: str, field: str, line: int | None, phrase: str, count: int
) -> None:
    issues = _issues(BAD / fixture)
    matching = [i for i in issues if i.path == field]
    assert matching, f"no issue at {field}; got {[i.render() for i in issues]}"
    issue = next((i for i in matching if phrase in f"{i.message} {i.hint}"), None)
    assert issue is not None, [i.render() for i in matching]
    assert issue.file == str(BAD / fixture)
    assert issue.line == line
    assert issue.hint, "every issue says how to fix it"
    assert len(issues) == count, [i.render() for i in issues]


def test_every_bad_fixture_is_in_the_table_and_the_good_one_loads() -> None:
    assert {p.name for p in BAD.glob("*.yml")} == {case[0] for case in CASES}
    manifest = load_manifest(FIXTURES / "good.yml")
    assert list(manifest.releases) == ["1.35"]


def test_missing_manifest_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    issues = _issues(tmp_path / "nope.yml")
    assert issues[0].file == str(tmp_path / "nope.yml")
    assert "does not exist" in issues[0].message


def test_an_edited_manifest_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    text = (FIXTURES / "good.yml").read_text()
    path.write_text(text)
    assert "calico" in load_manifest(path).releases["1.35"]
    path.write_text(text.replace("calico: 3.31.5", "calico: 3.31.9"))
    with pytest.raises(ManifestInvalid):
        load_manifest(path)


# -- taco's own manifest --------------------------------------------------------------


def test_packaged_manifest_is_complete_for_every_release() -> None:
    """Each release: a digest (or `recorded`) for every file on both architectures."""
    manifest = load_manifest(default_manifest_path())
    assert manifest.default_release in manifest.releases
    for release in manifest.releases:
        pinned = manifest.pinned(release)
        names = {name for name, _, _ in pinned}
        for needed in ("kubeadm", "kubelet", "kubectl", "containerd", "runc", "cni_plugins",
                       "crictl", "helm", "calico_manifest", "tekton_pipelines",
                       "tekton_triggers", "tekton_triggers_interceptors", "tekton_dashboard",
                       "prowjob_crd"):
            assert needed in names, (release, needed)
        for name, artifact, version in pinned:
            digests = artifact.versions[version]
            if artifact.kind == "manifest":
                assert set(digests) == {ALL}, name
            else:
                assert set(digests) == set(ARCHITECTURES), name
                assert RECORDED not in digests.values(), f"{name}: binaries have digests"
        assert manifest.kubernetes_version(release).startswith(f"{release}.")


def test_packaged_release_components_agree_with_the_site_default() -> None:
    manifest = load_manifest(default_manifest_path())
    site = load_site(REPO / "inventories" / "aio" / "site.yml")
    assert manifest.kubernetes_version(manifest.default_release) == site.kubernetes.version


def test_release_files_fill_the_url_templates() -> None:
    manifest = load_manifest(default_manifest_path())
    files = release_files(manifest, "1.36", ["arm64"])
    by_name = {f.name: f for f in files}
    kubelet = by_name["kubelet"]
    assert kubelet.url == "https://dl.k8s.io/release/v1.36.4/bin/linux/arm64/kubelet"
    assert kubelet.path == "kubelet/1.36.4/arm64/kubelet"
    containerd = by_name["containerd"]
    assert containerd.url.endswith("/v2.3.4/containerd-2.3.4-linux-arm64.tar.gz")
    assert containerd.filename == "containerd-2.3.4-linux.tar.gz"
    assert {f.arch for f in files} == {"arm64", ALL}
    assert by_name["calico_crds"].sha256 is not None  # published for 3.31.7
    assert by_name["calico_manifest"].sha256 is None  # recorded, and no lock given


# -- the lock file ----------------------------------------------------------------------


def test_lock_round_trips_and_fills_recorded_digests(tmp_path: Path) -> None:
    manifest = load_manifest(default_manifest_path())
    lock = Lock()
    digest = "4f" * 32
    lock.record("calico_manifest", "3.31.5", ALL, digest, "https://example.org/calico.yaml")
    path = tmp_path / "lock.yml"
    save_lock(path, lock)
    again = load_lock(path)
    assert again.digest("calico_manifest", "3.31.5", ALL) == digest
    files = {f.name: f for f in release_files(manifest, "1.35", ["amd64"], again)}
    assert files["calico_manifest"].sha256 == digest
    assert files["calico_manifest"].recorded
    assert files["tekton_pipelines"].sha256 is None
    assert path.read_text().startswith("# Digests recorded")


def test_bad_lock_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lock.yml"
    path.write_text("schema: 1\ndigests:\n  calico_manifest:\n    '3.31.5':\n      all:\n"
                    "        sha256: nothex\n        url: https://x\n        recorded: now\n")
    with pytest.raises(ManifestInvalid) as raised:
        load_lock(path)
    issue = raised.value.issues[0]
    assert issue.file == str(path)
    assert issue.path == 'digests.calico_manifest["3.31.5"].all.sha256'
    assert issue.line == 6
    assert "64 lowercase hex digits" in issue.hint
    assert "lock file" in str(raised.value)


def test_a_lock_file_that_does_not_exist_yet_is_empty(tmp_path: Path) -> None:
    assert load_lock(tmp_path / "later.yml").digests == {}


# -- sites ----------------------------------------------------------------------------

SITE = """\
name: art
networks:
  management: {purpose: management, cidr: 10.77.0.0/24}
kubernetes: {version: VERSION}
nodes:
  - {name: n1, address: 10.77.0.11, roles: [control-plane, worker]}
"""


def _site_file(tmp_path: Path, version: str = "1.35.4", mirrors: str = "") -> Path:
    path = tmp_path / "site.yml"
    path.write_text(SITE.replace("VERSION", version) + mirrors)
    return path


def _site_issues(path: Path) -> list[SiteIssue]:
    with pytest.raises(SiteInvalid) as raised:
        load_site(path)
    return raised.value.issues


def test_unknown_release_names_the_field_and_the_supported_minors(tmp_path: Path) -> None:
    path = _site_file(tmp_path, "1.34.2")
    [issue] = _site_issues(path)
    assert (issue.file, issue.path, issue.line) == (str(path), "kubernetes.version", 4)
    assert "no release 1.34" in issue.message
    assert "1.35 (1.35.4), 1.36 (1.36.4)" in issue.hint


def test_unsupported_minor_offers_the_manifest_releases(tmp_path: Path) -> None:
    [issue] = _site_issues(_site_file(tmp_path, "1.30.2"))
    assert issue.path == "kubernetes.version"
    assert "not supported" in issue.message
    assert "1.35 (1.35.4), 1.36 (1.36.4)" in issue.hint


def test_patch_version_must_be_the_pinned_one(tmp_path: Path) -> None:
    [issue] = _site_issues(_site_file(tmp_path, "1.35.2"))
    assert issue.path == "kubernetes.version"
    assert "pins Kubernetes 1.35.4" in issue.message
    assert "set version: 1.35.4" in issue.hint


def test_site_names_its_manifest_relative_to_the_site_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.yml").write_text((FIXTURES / "good.yml").read_text())
    path = _site_file(tmp_path, mirrors="mirrors: {artifact_manifest: conf/mine.yml}\n")
    site = load_site(path)
    assert site.mirrors.artifact_manifest == str(tmp_path / "conf" / "mine.yml")
    assert list(site_artifacts(site)) == ["kubeadm", "calico_manifest"]


def test_missing_named_manifest_is_a_site_issue(tmp_path: Path) -> None:
    path = _site_file(tmp_path, mirrors="mirrors:\n  artifact_manifest: nope.yml\n")
    [issue] = _site_issues(path)
    assert (issue.file, issue.path, issue.line) == (str(path), "mirrors.artifact_manifest", 8)
    assert "does not exist" in issue.message
    assert "relative to the site file" in issue.hint


def test_invalid_named_manifest_reports_the_manifest_file(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text((BAD / "kind_enum.yml").read_text())
    path = _site_file(tmp_path, mirrors="mirrors: {artifact_manifest: m.yml}\n")
    [issue] = _site_issues(path)
    assert (issue.file, issue.path, issue.line) == (str(tmp_path / "m.yml"),
                                                    "artifacts.kubeadm.kind", 7)


def test_named_manifest_without_the_release(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text((FIXTURES / "good.yml").read_text())
    path = _site_file(tmp_path, "1.36.4", "mirrors: {artifact_manifest: m.yml}\n")
    [issue] = _site_issues(path)
    assert issue.path == "kubernetes.version"
    assert "use a version of a release it pins: 1.35 (1.35.4)" in issue.hint


def test_explicit_architectures_need_digests(tmp_path: Path) -> None:
    text = (FIXTURES / "good.yml").read_text()
    text = re.sub(r", arm64: b+", "", text)
    (tmp_path / "m.yml").write_text(text)
    mirrors = "mirrors:\n  artifact_manifest: m.yml\n  architectures: [amd64, arm64, amd64]\n"
    issues = _site_issues(_site_file(tmp_path, mirrors=mirrors))
    found = {(i.path, i.message) for i in issues}
    assert found == {
        ("mirrors.architectures[1]", "the artifact manifest has no arm64 build of kubeadm "
         "1.35.4"),
        ("mirrors.architectures[2]", "amd64 is listed twice"),
    }
    # Left at the default, the missing arm64 build is simply not offered.
    site = load_site(_site_file(tmp_path, mirrors="mirrors: {artifact_manifest: m.yml}\n"))
    assert list(site_artifacts(site)["kubeadm"]["url"]) == ["amd64"]


# -- resolution -----------------------------------------------------------------------


def test_resolution_golden_for_a_site_with_mirror_and_lock() -> None:
    site = load_site(FIXTURES / "site" / "site.yml")
    rendered = yaml.safe_dump(site_artifacts(site), sort_keys=False, width=10_000)
    golden = FIXTURES / "resolved-site.yml"
    if os.environ.get("TACO_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text(), (
        f"{golden} is stale; if the change is intended, refresh with TACO_UPDATE_GOLDEN=1")


def test_mirror_urls_follow_the_layout_and_upstream_urls_the_templates() -> None:
    site = load_site(FIXTURES / "site" / "site.yml")
    lock = load_lock(FIXTURES / "site" / "artifacts.lock.yml")
    manifest = load_manifest(default_manifest_path())
    upstream = {f.name: f for f in site_files(site, upstream=True)}
    resolved: dict[str, Any] = site_artifacts(site)
    assert site.mirrors.artifacts is not None
    for name, entry in resolved.items():
        artifact = manifest.artifacts[name]
        for arch, url in entry["url"].items():
            assert url == mirror_url(site.mirrors.artifacts, name, entry["version"], arch,
                                     entry["filename"])
            assert url.startswith("http://10.77.0.1:8080/")
            assert upstream[name].url == artifact.url_for(entry["version"], arch)
            digest = artifact.versions[entry["version"]][arch]
            expected = lock.digest(name, entry["version"], arch) if digest == RECORDED \
                else digest
            assert entry["sha256"][arch] == expected
    assert set().union(*(e["url"] for e in resolved.values())) == {"amd64", ALL}


def test_inventory_carries_taco_artifacts() -> None:
    site = load_site(FIXTURES / "site" / "site.yml")
    all_vars = build_inventory(site)["all"]["vars"]
    assert all_vars["taco_artifacts"] == site_artifacts(site)
    assert all_vars["taco_mirrors"]["artifacts"] == site.mirrors.artifacts


def test_missing_digests_are_the_recorded_files_the_lock_lacks() -> None:
    site = load_site(FIXTURES / "site" / "site.yml")
    manifest = load_manifest(default_manifest_path())
    lock = load_lock(FIXTURES / "site" / "artifacts.lock.yml")
    expected = [name for name, artifact, version in manifest.pinned("1.35")
                if artifact.versions[version].get(ALL) == RECORDED
                and lock.digest(name, version, ALL) is None]
    assert [item.name for item in missing_digests(site)] == expected
    assert "calico_manifest" not in expected and "tekton_triggers" in expected


# -- images ---------------------------------------------------------------------------

IMAGES = """\
images:
  kube_apiserver:
    component: kubeadm
    ref: registry.k8s.io/kube-apiserver:v{version}
  pause:
    ref: registry.k8s.io/pause:{version}
    digests: {"3.10.1": DIGEST}
"""


# Lines of good.yml: the images: text starts right after them.
GOOD_LINES = len((FIXTURES / "good.yml").read_text().splitlines())


def _with_images(tmp_path: Path, images: str, pins: str = ", pause: 3.10.1") -> Path:
    text = (FIXTURES / "good.yml").read_text().replace("calico: 3.31.5}",
                                                      f"calico: 3.31.5{pins}}}")
    path = tmp_path / "m.yml"
    path.write_text(text + images.replace("DIGEST", "7e" * 32))
    return path


def _image_issues(path: Path) -> list[tuple[str, int | None, str]]:
    return [(i.path, i.line, f"{i.message} | {i.hint}") for i in _issues(path)]


def test_images_load_with_their_release_versions(tmp_path: Path) -> None:
    manifest = load_manifest(_with_images(tmp_path, IMAGES))
    listed = {name: (image.ref_for(version), image.digests.get(version))
              for name, image, version in manifest.images_of("1.35")}
    assert listed == {
        "kube_apiserver": ("registry.k8s.io/kube-apiserver:v1.35.4", None),
        "pause": ("registry.k8s.io/pause:3.10.1", "7e" * 32),
    }


def test_a_manifest_without_images_has_none() -> None:
    manifest = load_manifest(FIXTURES / "good.yml")
    assert manifest.images == {}
    assert manifest.images_of("1.35") == []


def test_a_release_key_for_an_unknown_image_is_reported(tmp_path: Path) -> None:
    [key, image] = _image_issues(_with_images(tmp_path, IMAGES, ", paus: 3.10.1"))
    assert key[:2] == ('releases["1.35"].paus', 4)
    assert "did you mean 'pause'?" in key[2]
    # ...and the image it was meant for is pinned by no release.
    assert image[:2] == ("images.pause", GOOD_LINES + 5)
    assert "no release pins a version of 'pause'" in image[2]


BAD_IMAGES: list[tuple[str, str, str, int, str]] = [
    # (what, images: text, field path, line within the images: text, phrase)
    ("no_version", "images:\n  pause:\n    ref: registry.k8s.io/pause:3.10\n",
     "images.pause.ref", 3, "has no {version}"),
    ("other_placeholder", "images:\n  pause:\n    ref: registry.k8s.io/{arch}/pause:{version}\n",
     "images.pause.ref", 3, "use {version} only"),
    ("garbage", "images:\n  pause:\n    ref: registry.k8s.io/Pause:{version}\n",
     "images.pause.ref", 3, "repository names are lowercase"),
    ("not_full", "images:\n  pause:\n    ref: pause:{version}\n",
     "images.pause.ref", 3, "write ref: docker.io/library/pause:{version}"),
    ("digest_in_ref", "images:\n  pause:\n    ref: registry.k8s.io/pause:{version}@sha256:"
     + "ab" * 32 + "\n", "images.pause.ref", 3, "under digests:"),
    ("digest_short", "images:\n  pause:\n    ref: registry.k8s.io/pause:{version}\n"
     "    digests: {\"3.10.1\": abc}\n", 'images.pause.digests["3.10.1"]', 4,
     "64 lowercase hex digits"),
    ("digest_prefixed", "images:\n  pause:\n    ref: registry.k8s.io/pause:{version}\n"
     "    digests: {\"3.10.1\": sha256:" + "ab" * 32 + "}\n", 'images.pause.digests["3.10.1"]',
     4, "64 lowercase hex digits"),
    ("component_unknown", "images:\n  pause:\n    component: kubeadmm\n"
     "    ref: registry.k8s.io/pause:{version}\n", "images.pause.component", 3,
     "did you mean 'kubeadm'?"),
    ("own_name_unpinned", "images:\n  coredns:\n    ref: registry.k8s.io/coredns/coredns:"
     "v{version}\n", "images.coredns", 2, "add coredns: VERSION under each release"),
    ("unknown_key", "images:\n  pause:\n    reff: registry.k8s.io/pause:{version}\n",
     "images.pause.reff", 3, "did you mean 'ref'?"),
]


@pytest.mark.parametrize(("what", "images", "field", "line", "phrase"), BAD_IMAGES,
                         ids=[b[0] for b in BAD_IMAGES])
def test_bad_image_entries_name_field_line_and_fix(
    tmp_path: Path, what: str, images: str, field: str, line: int, phrase: str
) -> None:
    found = _image_issues(_with_images(tmp_path, images))
    matching = [f for f in found if f[0] == field]
    assert matching, f"{what}: no issue at {field}; got {found}"
    at = GOOD_LINES + line
    assert any(f[1] == at and phrase in f[2] for f in matching), (what, at, matching)


def test_every_image_problem_is_reported_at_once(tmp_path: Path) -> None:
    images = ("images:\n  pause:\n    ref: pause:3\n    digests: {\"3.10.1\": abc}\n"
              "  etcd:\n    component: etcd_imag\n    ref: registry.k8s.io/etcd:{version}\n")
    found = _image_issues(_with_images(tmp_path, images))
    # The shape problem (digest) stops the cross-field checks, as for artifacts.
    assert [f[0] for f in found] == ['images.pause.digests["3.10.1"]']
    images = images.replace("abc", "ab" * 32)
    found = _image_issues(_with_images(tmp_path, images))
    assert {f[0] for f in found} == {"images.pause.ref", "images.etcd.component"}


def test_site_images_resolve_the_sites_release(tmp_path: Path) -> None:
    _with_images(tmp_path, IMAGES)
    path = _site_file(tmp_path, mirrors="mirrors: {artifact_manifest: m.yml}\n")
    assert site_images(load_site(path)) == {
        "kube_apiserver": "registry.k8s.io/kube-apiserver:v1.35.4",
        "pause": "registry.k8s.io/pause:3.10.1",
    }


def test_site_images_of_taco_s_own_manifest_follow_kubeadm() -> None:
    site = load_site(REPO / "inventories" / "aio" / "site.yml")
    manifest = load_manifest(default_manifest_path())
    pins = manifest.releases[site_release(site)]
    images = site_images(site)
    assert images["kube_apiserver"] == f"registry.k8s.io/kube-apiserver:v{site.kubernetes.version}"
    assert images["pause"] == f"registry.k8s.io/pause:{pins['pause']}"
    assert images["coredns"] == f"registry.k8s.io/coredns/coredns:v{pins['coredns']}"
    assert images["etcd"] == f"registry.k8s.io/etcd:{pins['etcd_image']}"
