"""The mail sink stores what SMTP hands it, and `protomesh mail` shows it back.

A real aiosmtpd server on loopback, fed by the user service's own SMTP adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh.errors import Unavailable
from protomesh_toolkit.cli import main
from protomesh_toolkit.cluster.mail import probe_mail_sink
from protomesh_toolkit.mail import inbox, sink
from services.user.mail import Mail, verification_mail
from services.user.smtp_mailer import SmtpMailer
from tests.support.ports import free_port


@pytest.fixture
def running_sink(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port, directory = free_port(), tmp_path / "mail"
    controller = sink.start(directory, port)
    try:
        yield directory, port
    finally:
        controller.stop()


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(sink.HOST, port, "no-reply@test.local", timeout=5)


async def test_each_message_is_stored_and_read_back_per_recipient(
    running_sink: tuple[Path, int],
) -> None:
    directory, port = running_sink
    await mailer(port).send(verification_mail("ada@example.com", "042137", 10))
    await mailer(port).send(Mail("grace@example.com", "Hello", "no code here\n"))
    everything = inbox.received(directory)
    assert [m.to for m in everything] == [("ada@example.com",), ("grace@example.com",)]
    (ada,) = inbox.received(directory, to="ADA@example.com")
    assert (ada.sender, ada.subject) == ("no-reply@test.local", "Your verification code")
    assert inbox.verification_code(ada) == "042137"
    assert inbox.verification_code(everything[1]) is None
    assert probe_mail_sink(port).healthy


def test_protomesh_mail_prints_the_messages_and_the_code(
    running_sink: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, port = running_sink
    for code in ("111111", "222222"):
        asyncio.run(mailer(port).send(verification_mail("ada@example.com", code, 10)))
    assert main(["mail", "--dir", str(directory), "--to", "ada@example.com"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("Subject: Your verification code") == 2
    assert main(["mail", "--dir", str(directory), "--last", "--code"]) == 0
    assert capsys.readouterr().out == "222222\n"
    assert main(["mail", "--dir", str(directory), "--to", "nobody@example.com"]) == 0
    assert "no mail to nobody@example.com" in capsys.readouterr().out


async def test_an_unreachable_server_is_unavailable_and_the_error_hides_the_body() -> None:
    with pytest.raises(Unavailable) as refused:
        await mailer(free_port()).send(verification_mail("ada@example.com", "987654", 10))
    assert "987654" not in str(refused.value)


def test_no_sink_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mail", "--dir", str(tmp_path / "none")]) != 0
    assert "protomesh up" in capsys.readouterr().err
