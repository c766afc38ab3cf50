"""The helm stand-in: real chart repositories over HTTP, releases stored as Helm 3 stores them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

from build_mirror import chart_repository

import fixtures
from fixtures import StandinCluster, free_port, serve_directory

if TYPE_CHECKING:
    from collections.abc import Iterator

standin_bin = fixtures.standin_bin
standin_cluster = fixtures.standin_cluster


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real (tiny) chart repository on loopback, as an air-gapped site would serve one."""
    directory = tmp_path_factory.mktemp("charts")
    chart_repository(directory)
    (directory / "not-a-repo").mkdir()
    (directory / "not-a-repo" / "index.yaml").write_text("entries: []\n")
    with serve_directory(directory) as url:
        yield url


def helm(cluster: StandinCluster, *args: str) -> tuple[int, str, str]:
    admin = cluster.host.path("/etc/kubernetes/admin.conf")
    result = cluster.host.run("helm", *args, f"--kubeconfig={admin}")
    return result.returncode, result.stdout, result.stderr


def repositories_file(cluster: StandinCluster) -> Path:
    return cluster.host.path("/root/.config/helm/repositories.yaml")


def test_repo_add_refuses_what_is_not_a_repository(standin_cluster: StandinCluster,
                                                   chart_repo: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/charts"
    code, _, error = helm(standin_cluster, "repo", "add", "dead", dead)
    assert code == 1
    assert f'Error: looks like "{dead}" is not a valid chart repository or cannot be reached' \
        in error
    code, _, error = helm(standin_cluster, "repo", "add", "missing", f"{chart_repo}/nothing")
    assert code == 1
    assert "404" in error
    code, _, error = helm(standin_cluster, "repo", "add", "bogus", f"{chart_repo}/not-a-repo")
    assert code == 1
    assert "is not a valid chart repository" in error
    assert not repositories_file(standin_cluster).exists() or "dead" not in \
        repositories_file(standin_cluster).read_text()


def test_repositories_and_releases(standin_cluster: StandinCluster, chart_repo: str,
                                   tmp_path: Path) -> None:
    code, out, error = helm(standin_cluster, "repo", "add", "local", chart_repo)
    assert (code, out.strip()) == (0, '"local" has been added to your repositories'), error
    assert helm(standin_cluster, "repo", "add", "local", chart_repo)[1].strip() == \
        '"local" already exists with the same configuration, skipping'
    code, _, error = helm(standin_cluster, "repo", "add", "local", f"{chart_repo}/other")
    assert code == 1
    assert "repository name (local) already exists" in error
    _, listed, _ = helm(standin_cluster, "repo", "list", "-o", "json")
    assert {"name": "local", "url": chart_repo} in json.loads(listed)
    code, out, _ = helm(standin_cluster, "repo", "update")
    assert code == 0
    assert '...Successfully got an update from the "local" chart repository' in out

    broken = tmp_path / "broken.yaml"
    broken.write_text("greeting: [unclosed\n")
    code, _, error = helm(standin_cluster, "upgrade", "--install", "hello", "local/taco-hello",
                          "-n", "greetings", "-f", str(broken))
    assert code == 1
    assert f"Error: failed to parse {broken}" in error
    values = tmp_path / "values.yaml"
    values.write_text("greeting: bonjour\n")
    code, _, error = helm(standin_cluster, "upgrade", "--install", "hello", "local/taco-hello",
                          "-n", "greetings", "-f", str(values))
    assert code == 1
    assert 'namespaces "greetings" not found' in error
    code, out, error = helm(standin_cluster, "upgrade", "--install", "hello", "local/taco-hello",
                            "-n", "greetings", "--create-namespace", "-f", str(values))
    assert code == 0, error
    assert 'Release "hello" does not exist. Installing it now.' in out
    assert "STATUS: deployed" in out
    assert "REVISION: 1" in out
    assert "not rendered" in error
    stored = standin_cluster.host.kubectl("get", "secrets", "-n", "greetings", "-l", "owner=helm",
                                          "-o", "name")
    assert stored.stdout.strip() == "secret/sh.helm.release.v1.hello.v1"
    code, out, error = helm(standin_cluster, "upgrade", "--install", "hello", "local/taco-hello",
                            "-n", "greetings", "--set", "replicas=2", "--version", "0.1.0")
    assert code == 0, error
    assert 'Release "hello" has been upgraded. Happy Helming!' in out
    _, listed, _ = helm(standin_cluster, "list", "-n", "greetings", "-o", "json")
    (release,) = json.loads(listed)
    assert (release["name"], release["revision"], release["status"], release["chart"]) == (
        "hello", "2", "deployed", "taco-hello-0.1.0")
    _, config, _ = helm(standin_cluster, "get", "values", "hello", "-n", "greetings", "-o", "json")
    assert json.loads(config) == {"replicas": 2}
    code, _, error = helm(standin_cluster, "upgrade", "--install", "hello", "local/taco-hello",
                          "-n", "greetings", "--version", "9.9.9")
    assert code == 1
    assert 'chart "taco-hello" matching 9.9.9 not found in local index' in error
    assert helm(standin_cluster, "uninstall", "hello", "-n", "greetings")[1].strip() == \
        'release "hello" uninstalled'
    left = standin_cluster.host.kubectl("get", "secrets", "-n", "greetings", "-l", "owner=helm",
                                        "-o", "name")
    assert left.stdout.strip() == ""


def test_chart_digest_is_checked(standin_cluster: StandinCluster,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("tampered")
    chart_repository(directory)
    archive = directory / "taco-hello-0.1.0.tgz"
    archive.write_bytes(archive.read_bytes() + b"\0")
    with serve_directory(directory) as url:
        assert helm(standin_cluster, "repo", "add", "tampered", url)[0] == 0
        code, _, error = helm(standin_cluster, "install", "evil", "tampered/taco-hello")
    assert code == 1
    assert "digest mismatch" in error
