"""One delivery over SMTP with Python's smtplib: EHLO as the sensor, STARTTLS when offered
(opportunistic, as an MTA does), MAIL, RCPT, DATA, within a timeout. Blocking: run in a thread."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    ok: bool
    reply: str  # the far side's last reply, or what went wrong


def send(host: str, port: int, helo: str, mail_from: str, recipients: tuple[str, ...], body: bytes,
         timeout: float) -> Sent:
    try:
        with smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                context = ssl.create_default_context()
                context.check_hostname = False  # opportunistic TLS: any certificate, as MTAs do
                context.verify_mode = ssl.CERT_NONE
                smtp.starttls(context=context)
                smtp.ehlo()
            code, text = smtp.mail(mail_from)
            if code != 250:
                return Sent(False, f"{code} {text.decode(errors='replace')}")
            taken = 0
            last = ""
            for recipient in recipients:
                code, text = smtp.rcpt(recipient)
                last = f"{code} {text.decode(errors='replace')}"
                taken += code in (250, 251)
            if not taken:
                return Sent(False, last)
            code, text = smtp.data(body)
            return Sent(code == 250, f"{code} {text.decode(errors='replace')}")
    except (OSError, smtplib.SMTPException) as exc:
        return Sent(False, f"{exc.__class__.__name__}: {exc}"[:300])
