"""The SMTP adapter of the mail port: the standard library's smtplib, run in a
thread so the blocking conversation never stalls the event loop.

Configured per service (USER_SERVICE_SMTP_HOST, _PORT, _FROM, _TIMEOUT): locally
the cluster's mail sink (`protomesh up`, read with `protomesh mail`), elsewhere
a real relay. A refusal or an unreachable server becomes Unavailable; the
message never carries the code into a log.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from protomesh.errors import Unavailable
from services.user.mail import Mail

log = logging.getLogger("services.user.mail")


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, *, timeout: float) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (smtplib.SMTPException, OSError) as error:
            # The error names the server and the failure, never the message body.
            log.warning("mail to %s:%d failed: %r", self._host, self._port, error)
            raise Unavailable(
                "the email could not be sent; try again shortly", retry_after=5.0
            ) from None

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(message)
