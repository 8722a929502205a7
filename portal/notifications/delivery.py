"""The two ways a notification reaches the vendor's staff: e-mail over SMTP, and an outgoing webhook
with Slack-compatible JSON (`{"text": ...}`, which Slack, Mattermost, Rocket.Chat and Teams
workflows accept).

Each raises `DeliveryFailed` with a message safe to log and show: it never holds
the webhook's address (its path is the secret) nor the SMTP password.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import requests

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


class DeliveryFailed(Exception):
    """Not delivered (or not known to be); the message names what went wrong, without secrets."""


def recipients(config: Mapping[str, Any]) -> list[str]:
    return [address.strip() for address in str(config["NOTIFY_EMAIL_TO"]).split(",") if address.strip()]


def send_email(config: Mapping[str, Any], subject: str, text: str, to: list[str] | None = None) -> None:
    """One plain-text e-mail to `to` (by default NOTIFY_EMAIL_TO) through SMTP_HOST (STARTTLS, TLS or
    plain: SMTP_TLS)."""
    message = EmailMessage()
    message["Subject"] = _CONTROL.sub(" ", subject)
    # The vendor's name beside the address, when it has one: what a mail client shows as the sender.
    vendor = _CONTROL.sub(" ", str(config.get("BRAND_NAME") or ""))
    message["From"] = formataddr((vendor, config["SMTP_FROM"]))
    message["To"] = ", ".join(to if to is not None else recipients(config))
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=str(config["SMTP_FROM"]).rpartition("@")[2] or None)
    message.set_content(text)
    where = _address(config)
    try:
        with _signed_in(config) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPResponseException as error:
        raise DeliveryFailed(f"the mail server {where} refused it: {error.smtp_code}") from error
    except smtplib.SMTPRecipientsRefused as error:
        raise DeliveryFailed(f"the mail server {where} refused every recipient") from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"could not send through {where}: {type(error).__name__}") from error


def reach_mail_server(config: Mapping[str, Any]) -> str:
    """Connect, secure and log in as sending does, then leave without sending; says what worked.

    :raise DeliveryFailed: which step did not, without the password.
    """
    with _signed_in(config) as smtp:
        try:
            smtp.noop()
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{_address(config)} stopped answering: {type(error).__name__}") from error
    secured = {"starttls": ", STARTTLS", "ssl": ", TLS"}.get(str(config["SMTP_TLS"]), ", without TLS")
    login = f", logged in as {config['SMTP_USER']}" if config["SMTP_USER"] else ""
    return f"{_address(config)} answered{secured}{login}"


def _address(config: Mapping[str, Any]) -> str:
    return f"{config['SMTP_HOST']}:{int(config['SMTP_PORT'])}"


@contextmanager
def _signed_in(config: Mapping[str, Any]) -> Iterator[smtplib.SMTP]:
    """A connection to SMTP_HOST, secured (SMTP_TLS) and logged in (SMTP_USER) as configured.

    :raise DeliveryFailed: connecting, securing or logging in failed (the message says which).
    """
    host, port, timeout = config["SMTP_HOST"], int(config["SMTP_PORT"]), float(config["NOTIFY_TIMEOUT"])
    where = _address(config)
    smtp: smtplib.SMTP
    try:
        if config["SMTP_TLS"] == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"could not connect to {where}: {type(error).__name__}") from error
    with smtp:
        _secure_and_log_in(smtp, config, where)
        yield smtp


def _secure_and_log_in(smtp: smtplib.SMTP, config: Mapping[str, Any], where: str) -> None:
    try:
        if config["SMTP_TLS"] == "starttls":
            smtp.starttls(context=ssl.create_default_context())
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"could not start TLS with {where}: {type(error).__name__}") from error
    if not config["SMTP_USER"]:
        return
    try:
        smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryFailed(f"the mail server {where} refused the login: {error.smtp_code}") from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"could not log in to {where}: {type(error).__name__}") from error


def slack_text(text: str) -> str:
    """`text` for Slack's mrkdwn: `&`, `<` and `>` escaped, so a name like `<!channel>` stays text."""
    return "".join(_SLACK_ESCAPES.get(char, char) for char in text)


def post_webhook(config: Mapping[str, Any], text: str) -> None:
    """POST `{"text": text}` to NOTIFY_WEBHOOK_URL; any 2xx answer is delivered, nothing is retried here."""
    url = str(config["NOTIFY_WEBHOOK_URL"])
    host = urlsplit(url).hostname or "the webhook"
    timeout = float(config["NOTIFY_TIMEOUT"])
    try:
        answer = requests.post(url, json={"text": slack_text(text)}, timeout=timeout, allow_redirects=False)
    except requests.Timeout as error:
        raise DeliveryFailed(f"{host} did not answer within {timeout:g} s (it may have got it)") from error
    except requests.RequestException as error:
        raise DeliveryFailed(f"could not reach {host}: {type(error).__name__}") from error
    with answer:
        if not 200 <= answer.status_code < 300:
            said = _CONTROL.sub(" ", answer.text[:120]).strip()
            raise DeliveryFailed(f"{host} answered HTTP {answer.status_code}{f': {said}' if said else ''}")
