"""STAND-IN Kubernetes tools for taco's tests: kubeadm, kubelet, kube-apiserver, kubectl, helm.

Not Kubernetes. No registry here provides those programs, so these stand-ins play their part
on lab nodes: same command lines, same files left on the host, strict input checks. See
tests/standins/README.md for what each one does and does not do.
"""

from __future__ import annotations

KUBERNETES_VERSION = "1.35.4"
HELM_VERSION = "3.18.4"
STAND_IN_NOTE = "STAND-IN for taco tests, not the real program"
