"""The chart deployment handover: the site's chart manifest and the earlier phases'
handover data become Tekton objects, per-chart values and one checked bundle.

Pure functions of the site model and the run record's handover data; nothing here
touches a host. The `handover` phase's role copies the bundle to the cluster.
"""
