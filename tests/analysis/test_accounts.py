"""Accounts taken over: logins [deception] let in, and the spam sent through them, in the report."""

from __future__ import annotations

import json
import smtplib

import pytest

from support import RunningSensor, relaypot

pytestmark = pytest.mark.slow  # a sensor, logins and a report

STUFFER = "127.0.0.21"
OTHER = "127.0.0.22"


@pytest.fixture(scope="module")
def taken(tmp_path_factory):
    """A stuffer tries root (refused by a rule), then admin (let in) and sends one campaign to
    two recipients twice; another source's guess fails."""
    base = tmp_path_factory.mktemp("accounts")
    sensor = RunningSensor(base / "data", smtp__persona="postfix", smtp__relay="auth",
                           deception__accept_logins=["!root:*", "admin:*"])
    body = "Subject: Invoice {n}\r\n\r\nPay at http://pay.example/now\r\n"
    with smtplib.SMTP(*sensor.address, timeout=15, source_address=(STUFFER, 0)) as smtp:
        smtp.ehlo("stuffer.example")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("root", "toor")
    for n in range(2):
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(STUFFER, 0)) as smtp:
            smtp.ehlo("stuffer.example")
            smtp.esmtp_features["auth"] = "PLAIN"  # smtplib would prefer CRAM-MD5, which hides the password
            smtp.login("admin", "Summer2026")
            smtp.sendmail("ceo@corp.example", ["a@example.net", "b@example.org"], body.format(n=n))
    with smtplib.SMTP(*sensor.address, timeout=15, source_address=(OTHER, 0)) as smtp:
        smtp.ehlo("other.example")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("info", "info")
    sensor.wait_for("session.closed", 4)
    sensor.stop()
    return sensor


def test_the_report_names_the_account_its_source_and_what_went_through_it(taken):
    result = relaypot("report", "--format", "json", "--data-dir", str(taken.data_dir))
    assert result.returncode == 0, result.stderr
    over = json.loads(result.stdout)["credentials"]["taken_over"]
    [account] = over["accounts"]
    assert {k: account[k] for k in ("username", "password", "src_ip", "mechanism", "sessions", "messages")} == {
        "username": "admin", "password": "Summer2026", "src_ip": STUFFER, "mechanism": "PLAIN", "sessions": 2,
        "messages": 2}
    assert account["subject"].startswith("Invoice ") and len(account["example_sessions"]) == 2
    [campaign] = over["campaigns"]
    assert (campaign["messages"], campaign["sources"], campaign["accounts"]) == (2, 1, 1)


def test_the_terminal_and_html_reports_show_accounts_taken_over(taken, tmp_path):
    shown = relaypot("report", "--data-dir", str(taken.data_dir))
    assert "Accounts taken over" in shown.stdout and "Summer2026" in shown.stdout, shown.stderr
    page = tmp_path / "r.html"
    assert relaypot("report", "--html", str(page), "--data-dir", str(taken.data_dir)).returncode == 0
    html = page.read_text()
    assert "Accounts taken over" in html and "Campaigns through taken accounts" in html
