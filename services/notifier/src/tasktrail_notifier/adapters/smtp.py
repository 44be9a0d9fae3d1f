"""Send one mail over SMTP (STARTTLS unless the channel turns it off), in a thread: the
standard library's client blocks.

STARTTLS checks the server's certificate and name against the system's authorities and the
channel's own (``tls_ca``, PEM); ``tls_verify: false`` accepts any certificate, for a
server whose certificate cannot be checked, and only when the channel says so."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from tasktrail_notifier.domain.formats import Mail
from tasktrail_notifier.domain.retry import Answer

OK = 250


def _send(mail: Mail, config: dict[str, Any], timeout: float) -> Answer:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    try:
        with smtplib.SMTP(str(config["host"]), int(config["port"]), timeout=timeout) as smtp:
            if config.get("starttls", True):
                smtp.starttls(context=tls_context(config))
            if config.get("username"):
                smtp.login(str(config["username"]), str(config.get("password") or ""))
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        # SMTP: 4xx is transient (retried like no answer), 5xx a permanent refusal.
        text = f"{exc.smtp_code} {exc.smtp_error!r}"[:300]
        if exc.smtp_code >= 500:
            return Answer(code=exc.smtp_code, error=text, permanent=True)
        return Answer(error=text)
    except ssl.SSLCertVerificationError as exc:
        # Will not change on retry: the channel must trust the certificate (or say not to check).
        return Answer(error=f"certificate not trusted: {exc.verify_message}"[:300], permanent=True)
    except smtplib.SMTPRecipientsRefused as exc:
        return Answer(error=f"recipients refused: {exc.recipients}"[:300], permanent=True)
    except (OSError, smtplib.SMTPException) as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}"[:300])
    return Answer(code=OK)


def tls_context(config: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.get("tls_ca"):
        context.load_verify_locations(cadata=str(config["tls_ca"]))
    if config.get("tls_verify") is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpTransport:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def send(self, mail: Mail, config: dict[str, Any]) -> Answer:
        return await asyncio.to_thread(_send, mail, config, self._timeout)
