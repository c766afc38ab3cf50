"""Render the scenario's handover bundle the way taco's engine does before the phase.

usage: make_bundle.py OUT_DIR [CHART=TIMEOUT]  (a timeout change makes a new revision)
Writes OUT_DIR/bundle/ and OUT_DIR/charts.yml (taco_charts as the inventory carries it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from taco.handover.bundle import render, write_bundle
from taco.site.load import load_site

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = Path(sys.argv[1])
    site = load_site(HERE / "site" / "site.yml")
    for change in sys.argv[2:]:
        name, _, timeout = change.partition("=")
        groups = [group.model_copy(update={"charts": [
            chart.model_copy(update={"timeout": timeout}) if chart.name == name else chart
            for chart in group.charts]}) for group in site.charts.groups]
        site = site.model_copy(update={"charts": site.charts.model_copy(
            update={"groups": groups})})
    handover = json.loads((HERE / "handover.json").read_text(encoding="utf-8"))
    bundle = render(site, handover, Path("/nonexistent/kubeconfig"))
    write_bundle(bundle, site, out / "bundle")
    (out / "charts.yml").write_text(yaml.safe_dump(
        {"taco_charts": site.charts.model_dump(mode="json")}), encoding="utf-8")
    print(bundle.digest)


if __name__ == "__main__":
    main()
