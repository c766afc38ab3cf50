"""taco: bare-metal bootstrap and cluster installer for OpenStack-on-Kubernetes."""

from __future__ import annotations

__version__ = "0.1.0"
