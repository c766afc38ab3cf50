"""Build the TEST artifact mirror: stand-ins plus real Debian packages, with their manifest.

    .venv/bin/python tests/standins/build_mirror.py DIR [--suite bookworm] [--arch amd64 ...]

Writes DIR/<name>/<version>/<arch>/<filename> (the layout `taco mirror sync` uses) and
DIR/artifacts.yml (the artifact manifest format, schema 1) whose sha256 values are computed
from the files written. The stand-ins kubeadm, kubelet and kubectl are kind `binary`;
containerd, runc and the CNI plugins are the real Debian packages (kind `deb`), fetched with
`apt-get download` through a private apt state directory: nothing is installed on this
machine and its apt lists are not touched. helm is packed like the real release archive
(kind `archive`, `linux-<arch>/helm`). The Tekton and Prow manifests are the hand-written
SHAPE files under tests/fixtures/tekton/ and tests/fixtures/prow/, served under the
names, versions and file names of taco's own manifest. DIR/charts/ is a tiny real Helm
chart repository (index.yaml + one chart) for helm tests of air-gapped sites.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
import zipapps  # noqa: E402
from standin import HELM_VERSION, KUBERNETES_VERSION  # noqa: E402

RELEASE = ".".join(KUBERNETES_VERSION.split(".")[:2])
STANDIN_URL = "https://stand-in.invalid/{name}/{version}/{arch}/{name}"
STANDIN_ARCHES = ("amd64", "arm64")
# manifest name -> Debian package
DEBS = {"containerd": "containerd", "runc": "runc", "cni_plugins": "containernetworking-plugins"}
DEBIAN = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
REPO = HERE.parents[1]
PACKAGE_MANIFEST = REPO / "installer" / "taco" / "data" / "artifacts.yml"
# taco's manifest name -> the hand-written shape file served in its place
SHAPES = {
    "tekton_pipelines": "tekton/pipelines-shape.yaml",
    "tekton_triggers": "tekton/triggers-shape.yaml",
    "tekton_triggers_interceptors": "tekton/interceptors-shape.yaml",
    "tekton_dashboard": "tekton/dashboard-shape.yaml",
    "tekton_dashboard_full": "tekton/dashboard-full-shape.yaml",
    "prowjob_crd": "prow/prowjob-crd-shape.yaml",
    "prow_starter": "prow/starter-shape.yaml",
}
HELM_ARCHIVE = "helm-v{version}-linux.tar.gz"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(suite: str = "bookworm", arches: tuple[str, ...] = ()) -> str:
    """Identifies a mirror's content: the stand-ins' sources, this builder, suite, arches."""
    digest = hashlib.sha256()
    digest.update(zipapps.sources_digest().encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(PACKAGE_MANIFEST.read_bytes())
    for shape in sorted(SHAPES.values()):
        digest.update((REPO / "tests" / "fixtures" / shape).read_bytes())
    digest.update(f"{suite}:{','.join(arches or (host_arch(),))}".encode())
    return digest.hexdigest()


def host_arch() -> str:
    answer = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                            check=True)
    return answer.stdout.strip()


class PrivateApt:
    """apt-get with its own sources, lists and cache under a temporary directory."""

    def __init__(self, directory: Path, suite: str, arches: tuple[str, ...]) -> None:
        self.directory = directory
        self.arches = arches
        (directory / "lists/partial").mkdir(parents=True)
        (directory / "cache/archives/partial").mkdir(parents=True)
        (directory / "status").write_text("")
        (directory / "sources.list").write_text(
            f"deb [signed-by={KEYRING}] {DEBIAN} {suite} main\n")

    def options(self) -> list[str]:
        settings = {
            "Dir::Etc::SourceList": self.directory / "sources.list",
            "Dir::Etc::SourceParts": self.directory / "sources.list.d",
            "Dir::State::Lists": self.directory / "lists",
            "Dir::State::status": self.directory / "status",
            "Dir::Cache": self.directory / "cache",
            "APT::Architecture": self.arches[0],
            "APT::Architectures": ",".join(self.arches),
            "Acquire::Languages": "none",
        }
        return [part for key, value in settings.items() for part in ("-o", f"{key}={value}")]

    def run(self, *args: str, cwd: Path | None = None) -> str:
        answer = subprocess.run(["apt-get", "-q", *self.options(), *args], cwd=cwd,
                                capture_output=True, text=True, check=False)
        if answer.returncode != 0:
            raise SystemExit(f"apt-get {' '.join(args)} failed:\n{answer.stderr.strip()}")
        return answer.stdout


def _url_template(uri: str, version: str, arch: str) -> str:
    plain = unquote(uri)
    base, _, filename = plain.rpartition("/")
    if ":" in version:
        raise SystemExit(f"{filename}: versions with an epoch are not supported by the mirror "
                         "layout")
    return f"{base}/{filename.replace(version, '{version}').replace(arch, '{arch}')}"


def fetch_debs(work: Path, suite: str, arches: tuple[str, ...]) -> list[dict[str, Any]]:
    """Download the packages; [{name, version, arch, file, url, sha256}] with checked digests."""
    apt = PrivateApt(work / "apt", suite, arches)
    print(f"apt-get update ({suite}, {', '.join(arches)}) into a private state directory",
          flush=True)
    apt.run("update")
    found = []
    downloads = work / "debs"
    downloads.mkdir()
    for name, package in DEBS.items():
        for arch in arches:
            wanted = f"{package}:{arch}"
            printed = apt.run("download", "--print-uris", wanted).strip().splitlines()[-1]
            uri, filename, _size, checksum = printed.split()
            uri = uri.strip("'")
            apt.run("download", wanted, cwd=downloads)
            path = downloads / filename
            version = subprocess.run(["dpkg-deb", "-f", str(path), "Version"], capture_output=True,
                                     text=True, check=True).stdout.strip()
            digest = sha256(path)
            if checksum.startswith("SHA256:") and checksum[7:] != digest:
                raise SystemExit(f"{filename}: sha256 {digest} does not match the index "
                                 f"({checksum[7:]})")
            found.append({"name": name, "version": version, "arch": arch, "file": path,
                          "url": _url_template(uri, version, arch), "sha256": digest})
            print(f"  {filename} {digest}", flush=True)
    return found


def _tar_add(bundle: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1767225600
    info.mode = 0o644
    bundle.addfile(info, io.BytesIO(data))


def chart_repository(directory: Path) -> None:
    """A minimal, real Helm chart repository with one chart, reproducible byte for byte."""
    directory.mkdir(parents=True, exist_ok=True)
    chart = {"apiVersion": "v2", "name": "taco-hello", "version": "0.1.0", "appVersion": "1.0",
             "description": "A minimal chart for taco's helm tests"}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as bundle:
        _tar_add(bundle, "taco-hello/Chart.yaml", yaml.safe_dump(chart, sort_keys=False))
        _tar_add(bundle, "taco-hello/values.yaml", "greeting: hello\nreplicas: 1\n")
        _tar_add(bundle, "taco-hello/templates/configmap.yaml",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
                 "data:\n  greeting: {{ .Values.greeting | quote }}\n")
    archive = gzip.compress(raw.getvalue(), mtime=0)
    (directory / "taco-hello-0.1.0.tgz").write_bytes(archive)
    index = {"apiVersion": "v1", "generated": "2026-01-01T00:00:00Z", "entries": {
        "taco-hello": [{**chart, "created": "2026-01-01T00:00:00Z",
                        "digest": hashlib.sha256(archive).hexdigest(),
                        "urls": ["taco-hello-0.1.0.tgz"]}]}}
    (directory / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=False))


def helm_archive(binary: Path, version: str, arch: str, destination: Path) -> None:
    """helm packed as the release archive is (linux-<arch>/helm), reproducible byte for byte."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as bundle:
        data = binary.read_bytes()
        info = tarfile.TarInfo(f"linux-{arch}/helm")
        info.size, info.mtime, info.mode = len(data), 1767225600, 0o755
        bundle.addfile(info, io.BytesIO(data))
        _tar_add(bundle, f"linux-{arch}/README.md",
                 f"STAND-IN helm v{version} for taco's tests: NOT the real helm.\n")
    destination.write_bytes(gzip.compress(raw.getvalue(), mtime=0))


def shape_manifests(target: Path, artifacts: dict[str, Any], release: dict[str, str]) -> None:
    """Serve the shape files under taco's names, versions and file names (kind manifest)."""
    package = yaml.safe_load(PACKAGE_MANIFEST.read_text())
    pins = package["releases"][RELEASE]
    for name, shape in SHAPES.items():
        entry = package["artifacts"][name]
        component = entry.get("component", name)
        version = pins[component]
        filename = entry.get("filename") or entry["url"].rsplit("/", 1)[1]
        destination = target / name / version / "all" / filename.replace("{version}", version)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "tests" / "fixtures" / shape, destination)
        artifacts[name] = {"kind": "manifest", "url": entry["url"],
                           **({"component": component} if component != name else {}),
                           "versions": {version: {"all": sha256(destination)}}}
        release[component] = version


def listed_images(release: dict[str, str]) -> dict[str, Any]:
    """taco's own image list, without digests: tests build these images themselves
    (tests/standins/images.py) and record their digests."""
    package = yaml.safe_load(PACKAGE_MANIFEST.read_text())
    pins = package["releases"][RELEASE]
    images: dict[str, Any] = {}
    for name, entry in package.get("images", {}).items():
        component = entry.get("component", name)
        release.setdefault(component, pins[component])
        images[name] = {key: value for key, value in entry.items() if key != "digests"}
    return images


def build(target: Path, suite: str = "bookworm", arches: tuple[str, ...] = ()) -> dict[str, Any]:
    """Build the whole mirror into target (created); returns the manifest written."""
    arches = arches or (host_arch(),)
    target.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    release: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="taco-mirror-") as scratch:
        work = Path(scratch)
        built = zipapps.build(work / "standins")
        for name, path in built.items():
            version = HELM_VERSION if name == "helm" else KUBERNETES_VERSION
            digests = {}
            if name == "helm":
                for arch in STANDIN_ARCHES:
                    filename = HELM_ARCHIVE.replace("{version}", version)
                    destination = target / name / version / arch / filename
                    helm_archive(path, version, arch, destination)
                    digests[arch] = sha256(destination)
                release[name] = version
                artifacts[name] = {"kind": "archive", "filename": HELM_ARCHIVE,
                                   "url": STANDIN_URL.replace("{name}", name).rsplit("/", 1)[0]
                                   + "/" + HELM_ARCHIVE, "versions": {version: digests}}
                continue
            for arch in STANDIN_ARCHES:
                destination = target / name / version / arch / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
                os.chmod(destination, 0o755)
                digests[arch] = sha256(destination)
            release[name] = version
            artifacts[name] = {"kind": "binary", "url": STANDIN_URL.replace("{name}", name),
                               "versions": {version: digests}}
        for deb in fetch_debs(work, suite, arches):
            # The mirror keeps architectures apart by directory: one file name for all.
            filename = f"{deb['name']}_{{version}}.deb"
            destination = (target / deb["name"] / deb["version"] / deb["arch"]
                           / filename.replace("{version}", deb["version"]))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(deb["file"], destination)
            if sha256(destination) != deb["sha256"]:
                raise SystemExit(f"{destination}: copy does not match the download")
            entry = artifacts.setdefault(deb["name"], {"kind": "deb", "url": deb["url"],
                                                       "filename": filename, "versions": {}})
            entry["versions"].setdefault(deb["version"], {})[deb["arch"]] = deb["sha256"]
            release[deb["name"]] = deb["version"]
    shape_manifests(target, artifacts, release)
    images = listed_images(release)
    chart_repository(target / "charts")
    manifest = {"schema": 1, "default_release": RELEASE, "releases": {RELEASE: release},
                "artifacts": artifacts, "images": images}
    header = (f"# TEST artifact manifest written by tests/standins/build_mirror.py ({suite}).\n"
              "# kubeadm, kubelet, kubectl and helm are STAND-INs (tests/standins/README.md);\n"
              "# the Tekton and Prow manifests are hand-written SHAPE files (tests/fixtures/);\n"
              "# containerd, runc and cni_plugins are real Debian packages. Not for production.\n")
    (target / "artifacts.yml").write_text(header + yaml.safe_dump(manifest, sort_keys=False))
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--suite", default="bookworm", choices=("bookworm", "trixie"))
    parser.add_argument("--arch", action="append", default=[], choices=("amd64", "arm64"),
                        help="Debian architectures to fetch (default: this machine's)")
    options = parser.parse_args()
    manifest = build(options.directory, options.suite, tuple(options.arch))
    print(f"wrote {options.directory / 'artifacts.yml'}: release {RELEASE} = "
          f"{manifest['releases'][RELEASE]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
