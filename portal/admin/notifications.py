"""Notifications as the console shows them: where staff notifications go, the latest ones (and the
e-mails with a link to choose a new password) with what became of them, a test, and (on every
staff page) a warning line while staff notifications fail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from portal.admin import bp
from portal.admin.access import staff_required
from portal.admin.approval_words import at
from portal.admin.forms import TestNotificationForm
from portal.auth.users import actor_of, signed_in_user
from portal.db import get_session
from portal.forms import STALE_FORM
from portal.models import FormSubmissionKind, Notification, record_event, submit_once
from portal.notifications import alerts, outbox
from portal.notifications.delivery import recipients


# App-wide, for the console's menu wherever it shows (a staff member's account page too); it is
# only a function, so other pages never query.
@bp.app_context_processor
def _notification_status() -> dict[str, Any]:
    def notification_trouble() -> list[Notification]:
        return outbox.trouble(get_session())

    return {"notification_trouble": notification_trouble}


def _where_they_go() -> dict[str, Any]:
    config = current_app.config
    webhook = config["NOTIFY_WEBHOOK_URL"]
    return {
        "channels": outbox.channels(config),
        "email_to": recipients(config) if config["SMTP_HOST"] else [],
        "smtp_host": config["SMTP_HOST"],
        "emails_to_people": outbox.email_configured(config),
        # Only the host: a webhook's path is its secret.
        "webhook_host": urlsplit(webhook).hostname if webhook else None,
    }


@bp.get("/notifications/", endpoint="notifications")
@staff_required
def notifications_page() -> str:
    return render_template(
        "admin/notifications.html",
        recent=outbox.recent(get_session()),
        test_form=TestNotificationForm.fresh(),
        **_where_they_go(),
    )


@bp.post("/notifications/test", endpoint="test_notification")
@staff_required
def test_notification() -> Response:
    """Queue a test notification on every channel (sent by the background sender, like the others)."""
    if not outbox.channels(current_app.config):
        flash("Notifications are off: there is nowhere to send a test.", "error")
        return redirect(url_for("admin.notifications"), code=303)
    form = TestNotificationForm()
    if not form.validate_on_submit():
        flash(STALE_FORM, "error")
        return redirect(url_for("admin.notifications"), code=303)
    db = get_session()
    actor = actor_of(signed_in_user())
    submission, first = submit_once(db, form.token, FormSubmissionKind.TEST_NOTIFICATION, actor)
    if not first:  # a double submit: the first one sent it
        flash(f"This test was sent already{at(submission.created_at)}; nothing was sent again.", "warning")
        return redirect(url_for("admin.notifications"), code=303)
    alerts.test_message(db, actor)
    record_event(db, "notification:test", actor=actor)
    db.commit()
    flash("A test notification is on its way; reload this page to see what became of it.", "success")
    return redirect(url_for("admin.notifications"), code=303)
