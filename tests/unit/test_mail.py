"""Email leaves through SMTP when a server is set and lands in ``.eml`` files when none is;
the settings are checked when read, and a server's answers become the job failure kinds."""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from connector.config import MAIL_FROM, MailSettings, Settings
from connector.errors import PermanentError, RetryableError
from connector.mail import Letter, Mailer

LETTER = Letter(
    "lena.mueller@example.com",
    "Ihre Rücksendung R0000007",
    "Guten Tag,\n\nhttps://returns.example/r/shop/status/abc\n",
    "de",
)


def test_without_a_server_each_message_is_an_eml_file(tmp_path: Path) -> None:
    mailer = Mailer(MailSettings(), tmp_path / "mail")

    message_id = mailer.send(LETTER)

    (path,) = (tmp_path / "mail").glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == message_id
    assert message["To"] == LETTER.to and message["From"] == MAIL_FROM
    assert message["Subject"] == LETTER.subject and message["Content-Language"] == "de"
    assert message.get_content() == LETTER.body


def test_the_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "SMTP_URL": "smtps://mailer:s%40cret@smtp.example.com",
            "HELLOWORD_MAIL_FROM": "a@b.example",
        },
        instance_path=tmp_path,
    )

    assert settings.mail == MailSettings("smtps://mailer:s%40cret@smtp.example.com", "a@b.example")
    assert settings.mail_path == tmp_path / "mail"
    assert Settings.from_env({}, instance_path=tmp_path).mail == MailSettings()


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SMTP_URL": "http://smtp.example.com"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://smtp.example.com:25x"}, "port"),
        ({"HELLOWORD_MAIL_FROM": "returns"}, "HELLOWORD_MAIL_FROM"),
    ],
)
def test_malformed_mail_settings_are_named(env: dict[str, str], problem: str, tmp_path: Path):
    with pytest.raises(ValueError, match=problem):
        Settings.from_env(env, instance_path=tmp_path)


class _Session(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server: EHLO (offering AUTH PLAIN), AUTH, MAIL, RCPT, DATA."""

    def handle(self) -> None:
        server: Any = self.server
        self._say("220 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-test", "250-AUTH PLAIN", "250 8BITMIME")
            elif verb == "AUTH":
                server.logins.append(base64.b64decode(command.split()[-1]).split(b"\0")[1:])
                self._say("235 ok")
            elif verb == "MAIL":
                self._say("250 ok")
            elif verb == "RCPT":
                self._say(server.rcpt_answer)
            elif verb == "DATA":
                self._say("354 go on")
                body = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    body += chunk
                server.messages.append(body)
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")

    def _say(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture(params=["127.0.0.1"])
def smtp_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    server: Any = socketserver.ThreadingTCPServer((request.param, 0), _Session)
    server.daemon_threads = True
    server.messages, server.logins, server.rcpt_answer = [], [], "250 ok"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_a_server_the_message_goes_over_smtp(smtp_server: Any, tmp_path: Path) -> None:
    port = smtp_server.server_address[1]
    mailer = Mailer(MailSettings(f"smtp://mailer:s%40cret@127.0.0.1:{port}"), tmp_path / "mail")

    mailer.send(LETTER)

    assert smtp_server.logins == [[b"mailer", b"s@cret"]]
    (raw,) = smtp_server.messages
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == LETTER.subject
    assert message.get_content().replace("\r\n", "\n") == LETTER.body
    assert not (tmp_path / "mail").exists()


def test_a_refused_recipient_is_a_permanent_failure(smtp_server: Any, tmp_path: Path) -> None:
    smtp_server.rcpt_answer = "550 no such mailbox"
    port = smtp_server.server_address[1]
    mailer = Mailer(MailSettings(f"smtp://127.0.0.1:{port}"), tmp_path)

    with pytest.raises(PermanentError, match="recipient"):
        mailer.send(LETTER)


def test_a_busy_server_is_tried_again(smtp_server: Any, tmp_path: Path) -> None:
    smtp_server.rcpt_answer = "451 try again later"
    port = smtp_server.server_address[1]

    with pytest.raises(RetryableError, match="put off"):
        Mailer(MailSettings(f"smtp://127.0.0.1:{port}"), tmp_path).send(LETTER)


def test_a_server_that_cannot_be_reached_is_tried_again(tmp_path: Path) -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]
    mailer = Mailer(MailSettings(f"smtp://127.0.0.1:{port}"), tmp_path)

    with pytest.raises(RetryableError, match="could not be reached"):
        mailer.send(LETTER)


def test_a_letter_to_no_address_is_not_sent(tmp_path: Path) -> None:
    mailer = Mailer(MailSettings(), tmp_path)

    with pytest.raises(PermanentError, match="not an email address"):
        mailer.send(Letter("not-an-address", "subject", "body"))
    assert not list(tmp_path.glob("*.eml"))


@pytest.mark.parametrize("smtp_server", ["127.0.0.2"], indirect=True)
def test_a_password_never_travels_in_clear_to_another_host(smtp_server: Any, tmp_path: Path):
    port = smtp_server.server_address[1]  # 127.0.0.2 stands for a host that is not this one
    mailer = Mailer(MailSettings(f"smtp://mailer:secret@127.0.0.2:{port}"), tmp_path)

    with pytest.raises(PermanentError, match="STARTTLS"):
        mailer.send(LETTER)
    assert smtp_server.logins == [] and smtp_server.messages == []
