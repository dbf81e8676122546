"""The mesh's local certificate authority: a root CA and a short-lived leaf per identity.

`authority.py` makes and signs certificates, `store.py` publishes them on
disk (a whole set swapped atomically), `issuance.py` decides from mesh.yaml
what to issue, keep, renew or rotate, and `cli.py` is `protomesh certs`.
"""
