"""Send one mail over SMTP (STARTTLS unless the channel turns it off), in a thread: the
standard library's client blocks."""

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
                smtp.starttls(context=ssl.create_default_context())
            if config.get("username"):
                smtp.login(str(config["username"]), str(config.get("password") or ""))
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        # SMTP: 4xx is transient (retried like no answer), 5xx a permanent refusal.
        text = f"{exc.smtp_code} {exc.smtp_error!r}"[:300]
        if exc.smtp_code >= 500:
            return Answer(code=exc.smtp_code, error=text, permanent=True)
        return Answer(error=text)
    except smtplib.SMTPRecipientsRefused as exc:
        return Answer(error=f"recipients refused: {exc.recipients}"[:300], permanent=True)
    except (OSError, smtplib.SMTPException) as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}"[:300])
    return Answer(code=OK)


class SmtpTransport:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def send(self, mail: Mail, config: dict[str, Any]) -> Answer:
        return await asyncio.to_thread(_send, mail, config, self._timeout)
