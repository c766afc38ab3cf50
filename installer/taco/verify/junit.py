"""verify results as JUnit XML, the report format CI systems read.

The layout is the common one (Jenkins' junit-10.xsd, what pytest writes): <testsuites>
holding one <testsuite> per phase, one <testcase> per check and host, a <failure message=…>
or <skipped message=…> child where the check did not pass.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from taco.verify.results import CheckResult, Outcome, totals

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# The suites in the order the phases build a site; unknown phases follow in first-seen order.
_PHASE_ORDER = ("container_runtime", "kubernetes", "cni_labels", "openvswitch", "storage",
                "helm", "tekton", "prow")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Characters XML 1.0 cannot hold, even escaped (C0 controls but tab, newline, return; ...).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` as XML can hold it: terminal colour codes dropped, other controls replaced."""
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def _suites(results: Sequence[CheckResult]) -> dict[str, list[CheckResult]]:
    suites: dict[str, list[CheckResult]] = {}
    for result in results:
        suites.setdefault(result.phase, []).append(result)
    order = {name: index for index, name in enumerate(_PHASE_ORDER)}
    return dict(sorted(suites.items(), key=lambda item: order.get(item[0], len(order))))


def _counts(element: ET.Element, results: Sequence[CheckResult]) -> None:
    count = totals(results)
    element.set("tests", str(count.total))
    element.set("failures", str(count.failed))
    element.set("errors", "0")
    element.set("skipped", str(count.skipped))


def to_junit(results: Sequence[CheckResult], *, site: str, duration_s: float,
             timestamp: datetime | None = None) -> ET.Element:
    """The <testsuites> element for a verify run of `site`."""
    stamp = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=f"taco verify {site}")
    _counts(root, results)
    root.set("time", f"{duration_s:.3f}")
    hostname = socket.gethostname()
    for index, (phase, members) in enumerate(_suites(results).items()):
        suite = ET.SubElement(root, "testsuite", name=xml_text(phase), id=str(index),
                              package="taco.verify", timestamp=stamp, hostname=hostname,
                              time="0")
        _counts(suite, members)
        for result in members:
            case = ET.SubElement(suite, "testcase",
                                 name=xml_text(f"{result.check}[{result.host}]"),
                                 classname=xml_text(f"taco.verify.{phase}.{result.check}"),
                                 time="0")
            if result.outcome is Outcome.FAILED:
                detail = xml_text(result.detail)
                failure = ET.SubElement(case, "failure", message=detail, type="VerifyFailure")
                failure.text = detail
            elif result.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=xml_text(result.detail))
    return root


def write_junit(path: Path, results: Sequence[CheckResult], *, site: str,
                duration_s: float) -> Path:
    """Write the XML (UTF-8, with declaration) to `path`, creating its directory."""
    tree = ET.ElementTree(to_junit(results, site=site, duration_s=duration_s))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
