"""Mutual TLS for every hop inside the mesh: server credentials that follow rotated
files, client credentials from a process's own certificate, and the one
mesh-wide development switch that turns all of it off."""
