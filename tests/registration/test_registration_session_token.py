"""The flow in a browser that never sends our cookie back (older Safari in the LMS iframe).

The session then lives only in the signed `_st` token carried by every link and
form of the flow; a browser whose cookie does come back builds plain URLs.
Also: the session store itself (portal/sessions.py): expiry, forgery, rotation.
"""

from __future__ import annotations

import time
from html import unescape

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from portal.models import User
from portal.sessions import TOKEN_PARAM
from tests.accounts import sign_in
from tests.auth.helpers import token_of
from tests.fakes.ltiaas import CLOSE_HTML, FakeLtiaas
from tests.registration.helpers import csrf_token_in, links_in, public_id_from, start

FORM = {
    "platform_name": "Cookieless Moodle",
    "auto_activate": "y",
    "messages": ["LtiDeepLinkingRequest"],
    "placements_1": ["ContentArea"],
}


def flow_links(html: str) -> list[str]:
    return [link for link in links_in(html) if link.startswith("/registration/")]


@pytest.fixture
def cookieless(app: Flask) -> FlaskClient:
    return app.test_client(use_cookies=False)


def test_the_whole_flow_works_with_only_the_token_in_urls(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas, customer: User
) -> None:
    review_url = start(cookieless)
    review = cookieless.get(review_url)
    assert review.status_code == 200
    # Going on needs an account: the review page leads to sign-in, which leads back to configure.
    (sign_in_url,) = [link for link in links_in(review.get_data(as_text=True)) if "/auth/sign-in" in link]
    assert TOKEN_PARAM in sign_in_url
    configure_url = sign_in(cookieless, customer.email, page=sign_in_url).location
    assert configure_url.startswith(f"/registration/{public_id_from(review_url)}/configure?")
    assert TOKEN_PARAM in configure_url

    form_page = cookieless.get(configure_url).get_data(as_text=True)
    action = next(link for link in flow_links(form_page) if link.split("?")[0].endswith("/configure"))
    assert TOKEN_PARAM in action
    saved = cookieless.post(action, data={**FORM, "csrf_token": csrf_token_in(form_page)})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    assert TOKEN_PARAM in saved.headers["Location"]

    confirm_page = cookieless.get(saved.headers["Location"]).get_data(as_text=True)
    complete_url = next(link for link in flow_links(confirm_page) if "/complete" in link)
    assert TOKEN_PARAM in complete_url
    done = cookieless.post(complete_url, data={"csrf_token": csrf_token_in(confirm_page)})
    assert done.status_code == 303
    final = cookieless.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-state="completed"' in final
    assert CLOSE_HTML in final
    assert len(ltiaas.requests_to("complete_registration")) == 1


def test_without_the_token_a_cookieless_browser_has_no_access(
    cookieless: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    review_url = start(cookieless)
    assert cookieless.get(review_url.split("?")[0]).status_code == 404


def test_once_the_cookie_comes_back_urls_carry_no_token(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    review_url = start(customer_browser)
    assert TOKEN_PARAM in review_url  # the first redirect carries both
    body = customer_browser.get(review_url).get_data(as_text=True)
    links = flow_links(body)
    assert links and all(TOKEN_PARAM not in link for link in links)


def test_a_forged_token_opens_no_session(app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas) -> None:
    review_url = start(cookieless)
    token = token_of(review_url)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    path = review_url.split("?")[0]
    assert cookieless.get(f"{path}?{TOKEN_PARAM}={forged}").status_code == 404
    assert cookieless.get(f"{path}?{TOKEN_PARAM}=not-a-token").status_code == 404


def test_a_token_signed_with_another_secret_is_refused(
    tmp_path: object, ltiaas: FakeLtiaas, app: Flask
) -> None:
    from itsdangerous import URLSafeTimedSerializer

    cookieless = app.test_client(use_cookies=False)
    review_url = start(cookieless)
    session_id = URLSafeTimedSerializer(app.secret_key, salt="portal-session-token").loads(
        token_of(review_url)
    )
    other = URLSafeTimedSerializer("another-secret", salt="portal-session-token").dumps(session_id)
    assert cookieless.get(f"{review_url.split('?')[0]}?{TOKEN_PARAM}={other}").status_code == 404


SESSION_ENDED = "Your session in this window ended"
NOT_HERE = "This registration isn't open in this window"


def start_an_hour_ago(app: Flask, browser: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> str:
    """The review page's URL, its token minted FLOW_TOKEN_MAX_AGE and a minute ago."""
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - app.config["FLOW_TOKEN_MAX_AGE"] - 60)
    review_url = start(browser)
    monkeypatch.setattr(time, "time", real_time)
    return review_url


def test_an_old_token_expires_and_the_page_says_the_session_ended(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas, monkeypatch: pytest.MonkeyPatch
) -> None:
    review_url = start_an_hour_ago(app, cookieless, monkeypatch)

    page = cookieless.get(review_url)

    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert SESSION_ENDED in text and NOT_HERE not in text
    assert "Error 404" not in text and 'class="card error"' not in text  # told as it is, not as an error
    assert "This window&#39;s link is more than an hour old, so its session ended." in text
    assert "start the registration again from your LMS" in text
    assert f'href="/auth/sign-in?next=/registration/{public_id_from(review_url)}/"' in text


def test_a_customer_whose_token_ran_out_signs_in_again_and_is_back_where_they_were(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = start_an_hour_ago(app, cookieless, monkeypatch)  # the LMS's window, opened an hour ago
    old_token = token_of(late)
    review_url = start(cookieless)
    review = cookieless.get(review_url).get_data(as_text=True)
    (sign_in_url,) = [link for link in links_in(review) if "/auth/sign-in" in link]
    configure_url = sign_in(cookieless, customer.email, page=sign_in_url).location
    public_id = public_id_from(review_url)
    assert cookieless.get(configure_url).status_code == 200  # the account has taken it on

    ended = cookieless.get(f"/registration/{public_id}/configure?{TOKEN_PARAM}={old_token}")
    assert SESSION_ENDED in ended.get_data(as_text=True)
    (again,) = [link for link in links_in(ended.get_data(as_text=True)) if "/auth/sign-in" in link]
    back = sign_in(cookieless, customer.email, page=again).location

    assert back.startswith(f"/registration/{public_id}/configure?{TOKEN_PARAM}=")
    assert 'data-page="configure"' in cookieless.get(back).get_data(as_text=True)


def test_a_forged_token_is_not_told_a_session_ended(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    review_url = start(cookieless)
    forged = f"{review_url.split('?')[0]}?{TOKEN_PARAM}=not-a-token"
    text = unescape(cookieless.get(forged).get_data(as_text=True))
    assert NOT_HERE in text and SESSION_ENDED not in text


def test_regenerate_makes_the_old_session_id_and_token_worthless(app: Flask, ltiaas: FakeLtiaas) -> None:
    def rotate() -> str:
        session.regenerate()  # type: ignore[attr-defined]
        return "rotated"

    app.add_url_rule("/_test/rotate", view_func=rotate)
    browser = app.test_client()
    review_url = start(browser)
    old_token = token_of(review_url)
    assert browser.get("/_test/rotate").status_code == 200

    # The browser keeps its session under the new id (the new cookie came back)...
    assert browser.get(review_url.split("?")[0]).status_code == 200
    # ...while the old token, e.g. leaked through a copied link, opens nothing.
    stranger = app.test_client(use_cookies=False)
    assert stranger.get(f"{review_url.split('?')[0]}?{TOKEN_PARAM}={old_token}").status_code == 404


def test_a_session_past_its_lifetime_is_gone(app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas) -> None:
    from sqlalchemy import update

    from portal.db import get_session
    from portal.models import WebSession, utcnow

    review_url = start(cookieless)
    with app.app_context():
        db = get_session()
        db.execute(update(WebSession).values(expires_at=utcnow()))
        db.commit()
    gone = cookieless.get(review_url)
    assert gone.status_code == 404
    assert SESSION_ENDED in gone.get_data(as_text=True)
    assert "Your session ended after 2 hours without activity." in gone.get_data(as_text=True)


def test_the_review_link_of_a_token_session_works_in_a_new_browser_only_with_the_token(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    review_url = start(cookieless)
    public_id = public_id_from(review_url)
    assert app.test_client().get(f"/registration/{public_id}/").status_code == 404
    assert app.test_client().get(review_url).status_code == 200


def test_the_sign_in_page_reached_by_an_old_link_says_so_not_that_the_window_was_idle(
    app: Flask, cookieless: FlaskClient, ltiaas: FakeLtiaas, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_token = token_of(start_an_hour_ago(app, cookieless, monkeypatch))

    page = unescape(cookieless.get(f"/auth/sign-in?{TOKEN_PARAM}={old_token}").get_data(as_text=True))

    assert "You are signed out: this window's link is more than an hour old, so its session ended." in page
    assert "without activity" not in page
