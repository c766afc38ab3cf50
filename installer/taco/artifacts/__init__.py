"""Artifacts: the manifest of every file a site downloads, its lock file, and the mirror.

`manifest` reads and checks the manifest (data: versions, URL templates, sha256 per
architecture); `lock` holds digests recorded for files whose publisher gives none;
`resolve` turns a site into the inventory variable `taco_artifacts`; `download`,
`mirror` and `serve` are what `taco mirror sync|verify|serve` run.
"""
