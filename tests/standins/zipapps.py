"""Build the stand-in executables: one Python zipapp per tool, self-contained.

Each file is `#!/usr/bin/python3`, then a line saying what it is, then a zip holding the
`standin` package, PyYAML's pure-Python modules (nodes have no python3-yaml) and a
__main__.py that runs the tool. The zip is deterministic (fixed timestamps, sorted entries)
so the same sources always give the same sha256, which the test mirror's manifest records.
"""

from __future__ import annotations

import hashlib
import io
import os
import py_compile
import tempfile
import zipfile
from pathlib import Path

import yaml
from standin import HELM_VERSION, KUBERNETES_VERSION

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "standin"
TOOLS = {
    "kubeadm": KUBERNETES_VERSION,
    "kubelet": KUBERNETES_VERSION,
    "kubectl": KUBERNETES_VERSION,
    "helm": HELM_VERSION,
}
SHEBANG = "#!/usr/bin/python3\n"
EPOCH = (2026, 1, 1, 0, 0, 0)


def banner(tool: str) -> str:
    return (f"# STAND-IN for {tool} {TOOLS[tool]} (taco tests): NOT the real {tool}. "
            "Source: tests/standins/standin/ in the taco repository.\n")


def _sources() -> list[tuple[str, bytes]]:
    files = [(f"standin/{p.name}", p.read_bytes()) for p in sorted(PACKAGE.glob("*.py"))]
    yaml_dir = Path(yaml.__file__).parent
    files += [(f"yaml/{p.name}", p.read_bytes()) for p in sorted(yaml_dir.glob("*.py"))]
    return files


def sources_digest() -> str:
    """Changes whenever a byte of what goes into the executables changes."""
    digest = hashlib.sha256()
    for name, data in _sources():
        digest.update(name.encode() + b"\0" + data + b"\0")
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _compiled(name: str, data: bytes) -> bytes:
    """Bytecode for this Python (unchecked hash: reproducible, and skipped by other versions)."""
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / Path(name).name
        source.write_bytes(data)
        target = Path(directory) / "out.pyc"
        py_compile.compile(str(source), cfile=str(target), dfile=name, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        return target.read_bytes()


def build_one(tool: str) -> bytes:
    """The executable's bytes. Bytecode rides along (zipimport cannot cache it on the node);
    a node with another Python version ignores it (magic number) and compiles the sources."""
    buffer = io.BytesIO()
    entries = [*_sources(), ("__main__.py", (
        f'"""{banner(tool).lstrip("# ").strip()}"""\n'
        f"from standin.{tool} import main\n\nraise SystemExit(main())\n").encode())]
    entries += [(name[:-3] + ".pyc", _compiled(name, data)) for name, data in entries
                if name.endswith(".py") and name != "__main__.py"]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return SHEBANG.encode() + banner(tool).encode() + buffer.getvalue()


def build(directory: Path) -> dict[str, Path]:
    """Write every stand-in executable into directory; name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    built = {}
    for tool in TOOLS:
        target = directory / tool
        temporary = directory / f".{tool}.tmp"
        temporary.write_bytes(build_one(tool))
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
        built[tool] = target
    return built
