"""Server credentials that require a client certificate and follow rotated files.

grpc asks the fetcher for a new certificate configuration on every new
handshake; it answers None (keep the current one) unless the files changed
since it last read them, so a rotation is in effect from the next connection
on, with no restart, while established connections carry on undisturbed.
A fetch that fails (a half-written file, a permissions slip) keeps the
current configuration and says why in the log, rather than refusing callers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import grpc

from protomesh.tls.files import TlsFiles

log = logging.getLogger("protomesh.tls")


class RotatingCertificates:
    """The certificate configuration fetcher for `grpc.dynamic_ssl_server_credentials`."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()  # grpc may call the fetcher from its own threads
        self._seen = files.fingerprint()

    def initial(self) -> grpc.ServerCertificateConfiguration:
        return self._configuration()

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        cert, key, ca = self.files.read()
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            try:
                current = self.files.fingerprint()
                if current == self._seen:
                    return None
                configuration = self._configuration()
            except (OSError, ValueError) as error:
                log.warning("keeping the current certificate: cannot reload it (%s)", error)
                return None
            self._seen = current
        log.info("certificate files changed: new handshakes use the new certificate")
        return configuration


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    fetcher = RotatingCertificates(files)
    # grpc's stubs leave out the None ("no change") its documentation allows.
    fetch: Callable[[], grpc.ServerCertificateConfiguration] = fetcher  # type: ignore[assignment]
    return grpc.dynamic_ssl_server_credentials(
        fetcher.initial(), fetch, require_client_authentication=True
    )
