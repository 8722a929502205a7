"""Whatever is typed into any form field or query parameter of the flow, account and staff pages,
the portal answers without a 5xx and never echoes it unescaped into a page (property-based, with
Hypothesis, on SQLite and on PostgreSQL).

Nothing here lists the fields: the app is asked. Every route of the flow, account and staff
blueprints is opened once as each kind of visitor, with real ids, while the request's parameter
dicts note every key the portal reads (`request.args`, `request.form`); those keys are what the
examples then fill. A field or parameter added later is covered without editing this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, Request, Response, request, request_finished
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select, update
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.test import TestResponse

from portal.db import get_session
from portal.models import ApprovalRequest, Payment, Registration, User
from tests.accounts import signed_in
from tests.conftest import make_test_app
from tests.fakes.ltiaas import MOODLE_URL, FakeLtiaas, lms_configuration, seed_lmses
from tests.registration.helpers import SPRINGFIELD, add_person, public_id_from, start

BLUEPRINTS = ("registration.", "auth.", "billing.", "admin.")
FORM = "application/x-www-form-urlencoded"
# Put inside generated values, so that an echo of one is recognisable in a page.
MARK = "qz7hypo"
_MARKED = re.compile(rf"{MARK}\d+x")  # a mark as sent: made each value's own (`_own_marks`)
SPECIAL = "<>\"'&"


class NotingDict(ImmutableMultiDict[str, str]):
    """Request parameters that note which keys the portal asked for."""

    def noted(self) -> set[str]:
        return self.__dict__.setdefault("_noted", set())

    def __contains__(self, key: object) -> bool:
        self.noted().add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> str:
        self.noted().add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:
        self.noted().add(key)
        return super().get(key, default, type)

    def getlist(self, key: str, type: Any = None) -> list[Any]:
        self.noted().add(key)
        return super().getlist(key, type)


class NotingRequest(Request):
    parameter_storage_class = NotingDict


@dataclass(frozen=True)
class Target:
    """One route, method and visitor, with the query and form keys the portal read for it."""

    who: str
    method: str
    url: str
    query_keys: tuple[str, ...]
    form_keys: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.who} {self.method} {self.url} query={self.query_keys} form={self.form_keys}"


@dataclass
class World:
    app: Flask
    browsers: dict[str, FlaskClient]
    people: dict[str, User]
    ids: dict[str, Any]
    ltiaas: FakeLtiaas
    states: dict[str, str]  # each registration's state to go back to, by public id
    # Visitors whose last request may have signed someone in or out (sign-in, -up, -out).
    unsettled: set[str] = field(default_factory=set)

    def send(self, who: str, url: str, method: str, **options: Any) -> TestResponse:
        if url.startswith("/auth/sign-"):
            self.unsettled.add(who)
        return self.browsers[who].open(url, method=method, **options)


# A second Moodle, whose admin asks for approval.
ASKING = ("reg-asking", "https://moodle2.example.edu")


def _seed(ltiaas: FakeLtiaas) -> None:
    """The registrations the world's flows use, waiting (again) to be completed."""
    seed_lmses(ltiaas)
    ltiaas.add_registration(ASKING[0], lms_configuration("moodle-4.4", ASKING[1]))


def _make_world(tmp_path: Path, ltiaas: FakeLtiaas, ltiaas_settings: dict[str, Any]) -> World:
    app = make_test_app(tmp_path, **ltiaas_settings, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    app.request_class = type("NotingPortalRequest", (NotingRequest, app.request_class), {})
    _seed(ltiaas)
    platform = ltiaas.add_platform("Springfield Moodle", url=MOODLE_URL)
    people = {"customer": add_person(app, "customer"), "staff": add_person(app, "staff")}
    browsers = {
        "anonymous": app.test_client(),
        "cookieless": app.test_client(use_cookies=False),  # its session rides in `_st`, if anywhere
        "customer": app.test_client(),
        "staff": app.test_client(),
    }
    for who in ("customer", "staff"):
        signed_in(browsers[who], people[who])
    customer = browsers["customer"]
    registration = public_id_from(start(customer, "reg-moodle"))
    customer.get(f"/registration/{registration}/configure")  # the customer's from now on
    app.config["APPROVAL_POLICY"] = "live-approval"
    asked = public_id_from(start(customer, ASKING[0]))
    assert customer.post(f"/registration/{asked}/configure", data=SPRINGFIELD).status_code == 303
    assert customer.post(f"/registration/{asked}/request").status_code == 303
    app.config["APPROVAL_POLICY"] = "self-service"
    for who in ("anonymous", "staff"):
        start(browsers[who], "reg-moodle")
    with app.app_context():
        db = get_session()
        flow = db.scalar(select(Registration).where(Registration.public_id == registration))
        assert flow is not None
        payment = Payment(registration_id=flow.id, user_id=people["customer"].id, stripe_session_id="cs_hyp")
        db.add(payment)
        db.commit()
        approval = db.scalars(select(ApprovalRequest.public_id)).one()
        ids = {
            "registration": registration,
            "asked": asked,
            "payment": payment.public_id,
            "approval": approval,
            "platform": platform["id"],
            "person": add_person(app, "customer").id,
        }
        states = {row.public_id: row.state for row in db.scalars(select(Registration))}
    return World(app, browsers, people, ids, ltiaas, states)


def _restore(world: World, who: str) -> None:
    """Undo what the last example may have done: every registration open, the request pending, the
    visitor `who` signed in as they were (an example may have signed them out, or in)."""
    with world.app.app_context():
        db = get_session()
        for public_id, state in world.states.items():
            db.execute(
                update(Registration)
                .where(Registration.public_id == public_id)
                .values(state=state, problem=None, last_error=None, platform_id=None, completion_html=None)
            )
        db.execute(
            update(ApprovalRequest).values(
                state="pending", reason=None, approved_choices=None, decided_by_email=None
            )
        )
        db.execute(
            update(Payment).values(status="pending", next_url=None, refunded_at=None, refunded_by=None)
        )
        db.execute(update(User).values(is_disabled=False))
        db.commit()
    _seed(world.ltiaas)
    if who not in world.unsettled:
        return
    world.unsettled.discard(who)
    if who == "cookieless":
        return  # it keeps no session from one request to the next
    with world.browsers[who].session_transaction() as session:
        session.pop("_user_id", None)
        if who in world.people:
            session["_user_id"] = world.people[who].get_id()
            session["_fresh"] = True


def _url_for_rule(world: World, rule: Any) -> str:
    """The rule's URL with real ids: a platform's, a person's (no visitor's own account), a
    payment's under billing and for a refund, a request's on its staff pages and for a withdrawal,
    else the customer's open registration."""
    if "platform_id" in rule.arguments:
        kind = "platform"
    elif "user_id" in rule.arguments:
        kind = "person"
    elif rule.endpoint.startswith("billing.") or rule.endpoint == "admin.record_refund":
        kind = "payment"
    elif rule.endpoint.startswith(("admin.approv", "admin.reject", "admin.finish", "auth.withdraw")):
        kind = "approval"
    else:
        kind = "registration"
    return rule.build(dict.fromkeys(rule.arguments, world.ids[kind]))[1]


def _discover(world: World) -> list[Target]:
    """Open every route of the flow, account and staff pages as each visitor; the keys each read."""
    read: dict[tuple[str, str, str], tuple[set[str], set[str]]] = {}
    current: list[tuple[str, str, str]] = []

    def note(_sender: Flask, response: Response, **_extra: Any) -> None:
        query: set[str] = request.args.noted() if isinstance(request.args, NotingDict) else set()
        form_dict = request.__dict__.get("form")
        form: set[str] = form_dict.noted() if isinstance(form_dict, NotingDict) else set()
        known = read.setdefault(current[-1], (set(), set()))
        known[0].update(query)
        known[1].update(form)

    request_finished.connect(note, world.app)
    try:
        for rule in world.app.url_map.iter_rules():
            if not rule.endpoint.startswith(BLUEPRINTS):
                continue
            url = _url_for_rule(world, rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                for who in world.browsers:
                    _restore(world, who)
                    current.append((who, method, url))
                    # A form with something in it: Flask-WTF reads an empty one as no form at all.
                    world.send(who, url, method, data={"probe": "1"} if method == "POST" else None)
    finally:
        request_finished.disconnect(note, world.app)
    found = [
        Target(who, method, url, tuple(sorted(query)), tuple(sorted(form)) if method != "GET" else ())
        for (who, method, url), (query, form) in read.items()
    ]
    return sorted(_furthest(found), key=str)


def _furthest(found: list[Target]) -> list[Target]:
    """Per route, the visitors that got furthest: whose keys read are no other visitor's subset
    (staff and customers read the same fields; an anonymous sign-in reads more than a signed-in
    one, which goes straight on). Routes that read no key take no input, and are left out."""

    def keys(target: Target) -> frozenset[str]:
        return frozenset(target.query_keys) | {f"form:{key}" for key in target.form_keys}

    kept: dict[tuple[str, str, frozenset[str]], Target] = {}
    for target in found:
        others = [keys(other) for other in found if (other.method, other.url) == (target.method, target.url)]
        if keys(target) and not any(keys(target) < other for other in others):
            kept.setdefault((target.method, target.url, keys(target)), target)
    return list(kept.values())


# What is typed: anything at all, and the usual suspects

usual_suspects = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "' OR '1'='1",
        "{{ 7 * 7 }}",
        "\x00",
        "\ud800",
        "a\r\nSet-Cookie: x=y",
        "//evil.example",
        "javascript:alert(1)",
        "%00%0d%0a",
        "",
        " ",
        "\u202e\u200b",
    ]
)
# Hypothesis leaves lone surrogates (category Cs) out unless asked for them.
any_character = st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"]))
anything = st.text(any_character, max_size=30)
long_text = st.builds(lambda character, times: character * times, st.characters(), st.integers(256, 5000))
piece = st.one_of(usual_suspects, anything, st.sampled_from(list(SPECIAL)))
marked = st.builds(lambda before, after: before + MARK + after, piece, piece)
value = st.one_of(marked, marked, usual_suspects, anything, long_text)


def _encoded(pairs: dict[str, str]) -> str:
    # Lone surrogates go out as the bytes a broken client would send (UTF-8 of the surrogate).
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def _unescaped_in(page: str, fragment: str) -> bool:
    """Whether `fragment` is in the page other than as the start of its escaped form (`x&` is the
    start of `x&amp;`)."""
    return page.count(fragment) > page.count(str(escape(fragment)))


def _echoed_unescaped(page: str, sent: list[str]) -> list[str]:
    """Sent values, or their mark with the special character next to it, that appear in the page
    as they were sent although escaping would change them."""
    echoed = []
    for raw in sent:
        found = _MARKED.search(raw)
        if found is None:
            continue
        start, end = found.span()
        fragments = [raw]
        if start and raw[start - 1] in SPECIAL:
            fragments.append(raw[start - 1 : end])
        if end < len(raw) and raw[end] in SPECIAL:
            fragments.append(raw[start : end + 1])
        echoed += [part for part in fragments if str(escape(part)) != part and _unescaped_in(page, part)]
    return echoed


def _own_marks(values: dict[str, str], first: int) -> dict[str, str]:
    """Each value's mark made its own (qz7hypo1x, qz7hypo2x...), so one field's echo is not
    taken for another's."""
    return {key: raw.replace(MARK, f"{MARK}{first + n}x") for n, (key, raw) in enumerate(values.items())}


def _check(world: World, target: Target, query: dict[str, str], form: dict[str, str]) -> None:
    query, form = _own_marks(query, 0), _own_marks(form, len(query))
    _restore(world, target.who)
    url = f"{target.url}?{_encoded(query)}" if query else target.url
    if target.method == "GET":
        response = world.send(target.who, url, "GET")
    else:
        response = world.send(target.who, url, target.method, data=_encoded(form).encode(), content_type=FORM)
    assert response.status_code < 500, f"{target}: {response.status_code}"
    if response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        sent = [*query.values(), *form.values()]
        assert _echoed_unescaped(page, sent) == [], f"{target} echoed input unescaped"


def _examples_for(target: Target) -> int:
    return min(2 * (len(target.query_keys) + len(target.form_keys)), 10)


def property_of(world: World, target: Target) -> Any:
    """Hypothesis's test of `target`: its query and form keys filled with anything."""

    @settings(
        max_examples=_examples_for(target),
        derandomize=True,
        database=None,
        deadline=5000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        query=st.fixed_dictionaries(dict.fromkeys(target.query_keys, value)),
        form=st.fixed_dictionaries(dict.fromkeys(target.form_keys, value)),
    )
    def answers_safely(query: dict[str, str], form: dict[str, str]) -> None:
        _check(world, target, query, form)

    return answers_safely


@pytest.fixture
def world(tmp_path: Path, ltiaas: FakeLtiaas, ltiaas_settings: dict[str, Any]) -> Iterator[World]:
    built = _make_world(tmp_path, ltiaas, ltiaas_settings)
    yield built
    built.app.extensions["ltiaas"].close()
    built.app.extensions["db_engine"].dispose()


def test_no_input_to_any_form_or_query_parameter_gives_a_5xx_or_an_unescaped_echo(world: World) -> None:
    targets = _discover(world)
    fields = {key for target in targets for key in target.form_keys}
    parameters = {key for target in targets for key in target.query_keys}
    # What the discovery must at least find (a sign that it works), not the list of what is tested.
    assert {"email", "password", "organisation", "platform_name", "messages", "reason"} <= fields
    assert {"registrationId", "next", "session_id", "_st"} <= parameters

    for target in targets:
        property_of(world, target)()


def test_the_echo_check_sees_an_unescaped_echo_and_only_that() -> None:
    sent = f'say "hi"<{MARK}0x&'

    assert _echoed_unescaped(f"<p>{sent}</p>", [sent]) == [sent, f"<{MARK}0x", f"{MARK}0x&"]
    assert _echoed_unescaped(f"<p>{escape(sent)}</p>", [sent]) == []
    assert _echoed_unescaped(f'<input value="{MARK}0x">', [f"{MARK}0x"]) == []
