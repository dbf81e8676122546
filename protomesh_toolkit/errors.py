"""The one error the cluster commands report to the user as-is, without a traceback."""

from __future__ import annotations


class ClusterError(Exception):
    """Something the user can act on: a port in use, a component that would not start..."""
