"""Each service's `limits` section: what one caller or one end user may spend, and how
many calls a process runs at once.

    limits:
      max_concurrent_calls: 64                            # past this, new calls are shed
      per_caller: {requests: 100, per: 1s, burst: 200}    # a bucket per mesh identity
      per_end_user: {requests: 10, per: 1s, burst: 20}    # a bucket per end user
      methods:                                            # keyed like `callers`
        shop.user.v1.UserService/CreateUser:
          per_end_user: {requests: 5, per: 1m}

A bucket belongs to the line that sets it: a method line with its own
`per_end_user` gives that method a budget of its own, and the methods without
one share the service's (the most specific key wins, as in `callers`).
"""

from __future__ import annotations

import re
from typing import Any

from protomesh.registry.model import CallLimits, ServiceLimits, TokenBucket
from protomesh.registry.reading import PROTO_SERVICE, Reader, join

BUCKET_KINDS = ("per_caller", "per_end_user")
_KEY = re.compile(rf"(?P<service>{PROTO_SERVICE.pattern})/(?:[A-Z][A-Za-z0-9]*|\*)")


def read_limits(reader: Reader, value: object, path: str, serves: tuple[str, ...]) -> ServiceLimits:
    raw = reader.mapping(value, path, (), ("max_concurrent_calls", *BUCKET_KINDS, "methods"))
    concurrent = None
    if "max_concurrent_calls" in raw:
        concurrent = reader.count(raw, "max_concurrent_calls", path, 1)
    methods: dict[str, CallLimits] = {}
    where = join(path, "methods")
    for key, item in reader.mapping(raw.get("methods", {}), where, (), None).items():
        at = f"{where}.{key}"
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            reader.fail(at, "expected pkg.Service/Method or pkg.Service/* as the key")
        elif match["service"] not in serves:
            reader.fail(at, f"{match['service']} is not in this service's serves")
        else:
            methods[key] = _call_limits(reader, reader.mapping(item, at, (), BUCKET_KINDS), at)
            if methods[key] == CallLimits():
                reader.fail(at, f"set {' or '.join(BUCKET_KINDS)}, or leave the method out")
    return ServiceLimits(concurrent, _call_limits(reader, raw, path), methods)


def _call_limits(reader: Reader, raw: dict[Any, Any], path: str) -> CallLimits:
    buckets = {
        kind: _bucket(reader, raw[kind], join(path, kind)) for kind in BUCKET_KINDS if kind in raw
    }
    return CallLimits(**buckets)


def _bucket(reader: Reader, value: object, path: str) -> TokenBucket:
    """`{requests: N, per: 1s, burst: M}`; the burst defaults to `requests`."""
    fields = reader.mapping(value, path, ("requests", "per"), ("burst",))
    requests = reader.count(fields, "requests", path, 1)
    seconds = reader.duration(fields, "per", path) or 1.0
    burst = reader.count(fields, "burst", path, requests)
    if burst < requests:
        reader.fail(f"{path}.burst", f"{burst} is below requests ({requests}): no refill fits")
    return TokenBucket(requests, seconds, burst)
