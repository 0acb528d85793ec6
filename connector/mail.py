"""Email to buyers: through an SMTP server when ``SMTP_URL`` is set, else into ``.eml`` files.

Pages never wait on a mail server: they compose a ``Letter`` in the reader's language and queue
the ``send_email`` job, which hands it to ``Mailer.send``. On a laptop, with no server set, every
message is written to ``<instance>/mail/`` as an ``.eml`` file any mail program opens.
``smtp://`` upgrades to TLS with STARTTLS when the server offers it; ``smtps://`` speaks TLS from
the first byte. A refusal that retrying cannot change (bad credentials, a rejected address) is a
``PermanentError``; a server that is down or busy is a ``RetryableError``.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .config import MailSettings, Settings
from .db.types import utcnow
from .errors import PermanentError, RetryableError

TIMEOUT = 30  # seconds to wait on the SMTP server
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Letter:
    """One plain-text message to one person, written in ``language`` (a BCP 47 tag)."""

    to: str
    subject: str
    body: str
    language: str = "en"


class Mailer:
    def __init__(self, settings: MailSettings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.mail, settings.mail_path)

    def compose(self, letter: Letter) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = letter.to
        message["Subject"] = letter.subject
        message["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.settings.sender)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies, please
        message.set_content(letter.body)
        message["Content-Language"] = letter.language  # set_content clears Content-* headers
        return message

    def send(self, letter: Letter) -> str:
        """Send the letter; its Message-ID."""
        if "@" not in parseaddr(letter.to)[1]:
            raise PermanentError(f"{letter.to!r} is not an email address")
        message = self.compose(letter)
        if self.settings.smtp_url:
            self._smtp(message)
        else:
            self._file(message)
        return str(message["Message-ID"])

    def _file(self, message: EmailMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(bytes(message))
        os.replace(temporary, path)
        return path

    def _smtp(self, message: EmailMessage) -> None:
        url = urlsplit(self.settings.smtp_url)
        host = url.hostname or "localhost"
        context = ssl.create_default_context()
        try:
            if url.scheme == "smtps":
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, url.port or 465, timeout=TIMEOUT, context=context
                )
            else:
                server = smtplib.SMTP(host, url.port or 587, timeout=TIMEOUT)
            with server:
                server.ehlo()
                secure = url.scheme == "smtps"
                if not secure and server.has_extn("starttls"):
                    server.starttls(context=context)
                    server.ehlo()
                    secure = True
                if url.username and not secure and host not in _LOOPBACK:
                    raise PermanentError(
                        f"{host} offers no STARTTLS: the password would travel in clear "
                        "(use smtps://, or a server that offers STARTTLS)"
                    )
                if url.username:
                    server.login(unquote(url.username), unquote(url.password or ""))
                server.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentError(f"the SMTP server refused the login: {error}") from error
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(f"the SMTP server refused the recipient: {error}") from error
            raise RetryableError(f"the SMTP server put off the recipient: {error}") from error
        except smtplib.SMTPResponseException as error:
            if 500 <= error.smtp_code < 600:
                raise PermanentError(f"the SMTP server refused the message: {error}") from error
            raise RetryableError(f"the SMTP server is busy: {error}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise RetryableError(f"the SMTP server could not be reached: {error}") from error


__all__ = ["Letter", "Mailer"]
