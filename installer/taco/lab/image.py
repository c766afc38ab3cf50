"""Build the lab node image: a Debian rootfs with systemd and sshd, imported into podman.

No registry is reachable here, so the image is made from Debian's archive with
debootstrap and `podman import`. It carries a label with the hash of its recipe;
an image whose label matches is reused, so the build runs once per recipe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from taco.errors import LabError
from taco.lab import proc
from taco.paths import state_dir

if TYPE_CHECKING:
    from collections.abc import Callable

IMAGE_REPOSITORY = "localhost/taco-node"
RECIPE_LABEL = "taco.recipe"
SUITES = ("bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the steps below change in a way the recipe fields do not capture.
RECIPE_VERSION = 1

# The least a node needs to be an Ansible target over SSH; roles install the rest
# themselves, as they must on real machines. python3-apt saves every node an
# install on the first apt task.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "iputils-ping",
)

# Units that cannot work inside a container and would leave the node "degraded".
# None: with the drop-in below, bookworm and trixie nodes boot to "running" with no
# failed unit (`systemctl is-system-running`, `systemctl --failed`; podman 4.3, runc).
MASKED_UNITS: tuple[str, ...] = ()

# Drop-ins rather than masks, so a role may still restart the unit.
DROPINS: tuple[tuple[str, str], ...] = (
    # Containers see no /lib/modules (none can be loaded here); trixie's
    # systemd-modules-load fails without it, leaving the node "degraded". Skip instead.
    (
        "systemd-modules-load.service",
        "[Unit]\nConditionDirectoryNotEmpty=/lib/modules/%v\n",
    ),
)

# The image ships no host keys (all nodes would share them): each node makes its own.
HOSTKEY_UNIT = "taco-ssh-hostkeys.service"
HOSTKEY_UNIT_TEXT = """\
[Unit]
Description=Generate this node's SSH host keys (the image ships none)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=ssh.service
"""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the image's content; its hash labels the image."""

    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    packages: tuple[str, ...] = PACKAGES
    masked_units: tuple[str, ...] = MASKED_UNITS
    dropins: tuple[tuple[str, str], ...] = DROPINS
    hostkey_unit: str = HOSTKEY_UNIT_TEXT
    version: int = RECIPE_VERSION

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ImageResult:
    reference: str
    digest: str
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)


def image_reference(suite: str = DEFAULT_SUITE) -> str:
    return f"{IMAGE_REPOSITORY}:{suite}"


def image_label(reference: str) -> str | None:
    """The recipe label of a local image, or None if there is no such image."""
    found = proc.probe(
        ["podman", "image", "inspect", "--format", "{{json .Labels}}", reference]
    )
    if found.returncode != 0:
        return None
    labels = json.loads(found.stdout.strip() or "null") or {}
    value = labels.get(RECIPE_LABEL)
    return str(value) if value is not None else ""


def image_exists(suite: str = DEFAULT_SUITE) -> bool:
    return image_label(image_reference(suite)) is not None


def build_image(
    suite: str = DEFAULT_SUITE,
    *,
    mirror: str = DEFAULT_MIRROR,
    rebuild: bool = False,
    log: Callable[[str], None] = print,
) -> ImageResult:
    """Build (or reuse) localhost/taco-node:<suite>."""
    if suite not in SUITES:
        raise LabError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    proc.require("podman")
    recipe = Recipe(suite=suite, mirror=mirror)
    digest = recipe.digest()
    reference = image_reference(suite)
    if not rebuild and image_label(reference) == digest:
        log(f"{reference} is cached (recipe {digest[:12]}); --rebuild forces a build")
        return ImageResult(reference, digest, cached=True)

    proc.require("debootstrap", "tar")
    superseded = proc.probe(["podman", "image", "inspect", "--format", "{{.Id}}", reference])
    old_id = superseded.stdout.strip() if superseded.returncode == 0 else ""
    timings: dict[str, float] = {}
    cache = state_dir() / "debootstrap-cache" / suite
    cache.mkdir(parents=True, exist_ok=True)
    builds = state_dir() / "image-build"
    builds.mkdir(parents=True, exist_ok=True)
    # Private per build: two builds at once must not share a rootfs.
    work = Path(tempfile.mkdtemp(prefix=f"{suite}-", dir=builds))
    rootfs = work / "rootfs"
    try:
        started = time.monotonic()
        log(f"debootstrap {suite} from {mirror} (packages cached in {cache})")
        proc.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(recipe.packages)}",
                f"--cache-dir={cache}",
                suite,
                str(rootfs),
                mirror,
            ],
            timeout=1800,
        )
        timings["debootstrap"] = time.monotonic() - started

        started = time.monotonic()
        customize_rootfs(rootfs, recipe)
        timings["customize"] = time.monotonic() - started

        started = time.monotonic()
        log(f"importing the rootfs as {reference}")
        import_rootfs(rootfs, reference, recipe)
        timings["import"] = time.monotonic() - started
    finally:
        remove_rootfs(work)
    if old_id:
        # The old image lost its tag; remove it unless a container still uses it.
        proc.probe(["podman", "image", "rm", old_id])
    log(f"built {reference} (recipe {digest[:12]})")
    return ImageResult(reference, digest, cached=False, timings=timings)


def customize_rootfs(rootfs: Path, recipe: Recipe) -> None:
    """Make the rootfs a node: its own identity per container, sshd on at boot."""
    # An empty machine-id makes systemd generate one per container at boot.
    (rootfs / "etc" / "machine-id").write_text("")
    dbus_id = rootfs / "var" / "lib" / "dbus" / "machine-id"
    if dbus_id.is_file() and not dbus_id.is_symlink():
        dbus_id.unlink()
    for key in (rootfs / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()

    units = rootfs / "etc" / "systemd" / "system"
    (units / HOSTKEY_UNIT).write_text(recipe.hostkey_unit)
    _link(units / "ssh.service.wants" / HOSTKEY_UNIT, f"/etc/systemd/system/{HOSTKEY_UNIT}")
    _link(units / "multi-user.target.wants" / "ssh.service", "/lib/systemd/system/ssh.service")
    _link(units / "sshd.service", "/lib/systemd/system/ssh.service")
    for unit in recipe.masked_units:
        _link(units / unit, "/dev/null")
    for unit, text in recipe.dropins:
        dropin = units / f"{unit}.d" / "taco-container.conf"
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(text)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def import_rootfs(rootfs: Path, reference: str, recipe: Recipe) -> None:
    """Stream the rootfs as a tar into `podman import`, with CMD and the recipe label."""
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--one-file-system", "-C", str(rootfs), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        imported = subprocess.run(
            [
                "podman",
                "import",
                "--change",
                'CMD ["/sbin/init"]',
                "--change",
                f"LABEL {RECIPE_LABEL}={recipe.digest()}",
                "--change",
                f"LABEL taco.suite={recipe.suite}",
                "--message",
                f"taco lab node image ({recipe.suite})",
                "-",
                reference,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        tar.stdout.close()
        tar_err = tar.stderr.read().decode() if tar.stderr else ""
        tar.wait()
    if tar.returncode != 0:
        raise LabError(f"tar of {rootfs} failed: {tar_err.strip()}")
    if imported.returncode != 0:
        raise LabError(f"podman import failed: {imported.stderr.strip()}")


def remove_rootfs(path: Path) -> None:
    """Delete a build tree, first unmounting anything debootstrap left mounted in it.

    Deleting through a leftover bind mount of /dev or /proc would reach the host, so
    this refuses to delete while anything is still mounted below the path.
    """
    if not path.exists():
        return
    for mountpoint in sorted(_mounts_below(path), key=len, reverse=True):
        proc.probe(["umount", "--lazy", mountpoint])
    left = _mounts_below(path)
    if left:
        raise LabError(f"cannot remove {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path)


def _mounts_below(path: Path) -> list[str]:
    root = str(path.resolve())
    found = []
    with Path("/proc/self/mountinfo").open() as mountinfo:
        for line in mountinfo:
            mountpoint = line.split()[4].replace("\\040", " ")
            if mountpoint == root or mountpoint.startswith(root + "/"):
                found.append(mountpoint)
    return found
