"""Every page an LMS admin can meet, checked by axe-core in the light and the dark scheme, and used
by keyboard and screen reader: a Canvas admin pays and registers inside the LMS's dialog, meets
each problem page, and waits for an approval.

One server per policy for the whole module; each test starts its own registrations. In screenshot
mode (`PORTAL_SCREENSHOTS`, see `looks.py`) these tests also save the README's pictures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, expect
from sqlalchemy import select

from portal.db import get_session
from portal.ltiaas import LtiaasClient
from portal.models import Registration, utcnow
from tests.browser.conftest import new_context, serve_with_staff
from tests.browser.helpers import (
    Choices,
    assert_registered_exactly,
    choose,
    new_email,
    open_lms,
    portal_frame,
    sign_in,
    sign_up,
    start_registration,
    wait_for_close,
)
from tests.browser.looks import assert_accessible, content_frame, take_picture
from tests.conftest import LiveServer, free_port, stop_live_server

pytestmark = pytest.mark.slow  # scripts/test runs it after its PostgreSQL pass; scripts/test-slow alone

CANVAS = "https://canvas.instructure.com/lti/"
CUSTOMER = "it-admin@springfield.example"
STAFF = "staff@acme-learning.example"
CHOICES = Choices(
    "Springfield University (Canvas)",
    {
        "LtiResourceLinkRequest": [f"{CANVAS}course_navigation"],
        "LtiDeepLinkingRequest": [f"{CANVAS}editor_button", f"{CANVAS}link_selection"],
    },
)
PAYING_CARD = "4242 4242 4242 4242"
CLOSE_SUBJECT = "org.imsglobal.lti.close"

# The LMS page hears the close message first and keeps its dialog open, so the done page can be
# checked; `window.closeHeard` says the message came.
HOLD_THE_DIALOG_OPEN = f"""
window.closeHeard = false;
window.addEventListener("message", (event) => {{
  if (event.data && event.data.subject === "{CLOSE_SUBJECT}") {{
    window.closeHeard = true;
    event.stopImmediatePropagation();
  }}
}}, true);
"""
# Every change of a live region's text after the page loaded, reported to the test.
RECORD_ANNOUNCEMENTS = """
(() => {
  const watch = () => new MutationObserver((records) => {
    for (const record of records) {
      const node = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      const region = node && node.closest("[aria-live], [role=status], [role=alert]");
      if (region && window.recordAnnouncement) {
        window.recordAnnouncement(location.pathname, region.textContent.trim());
      }
    }
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
"""


def serve(folder: Path, **settings: Any) -> LiveServer:
    """The module's tests share one server, and every browser is 127.0.0.1 to it: the per-address
    limit on account forms (tested in tests/auth) is raised so that it never counts them all as
    one person's, however fast they run."""
    return serve_with_staff(folder, STAFF, seed=True, AUTH_RATE_LIMIT="300 per minute", **settings)


@pytest.fixture(scope="module")
def paying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Self-service with the sandbox's demo price, paid through the Stripe stand-in."""
    live = serve(
        tmp_path_factory.mktemp("paying"),
        STRIPE_PRICE_ID="price_sandbox_registration",
        SANDBOX_STRIPE_SETTLE_AFTER=None,
    )
    yield live
    stop_live_server(live)


@pytest.fixture(scope="module")
def approving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Live approval without a price: customers wait in the dialog for the staff."""
    live = serve(tmp_path_factory.mktemp("approving"), APPROVAL_POLICY="live-approval")
    yield live
    stop_live_server(live)


@pytest.fixture
def lms(context: BrowserContext) -> Page:
    """The LMS admin's page; it keeps its dialog open when the close message comes."""
    context.add_init_script(HOLD_THE_DIALOG_OPEN)
    return context.new_page()


@pytest.fixture
def staff(other_context: BrowserContext) -> Page:
    """The vendor's staff member's page."""
    return other_context.new_page()


@pytest.fixture
def paid_customer(browser: Browser, paying: LiveServer) -> str:
    """The address of a customer who, in their own browser, paid for a Canvas registration and
    registered it (with `CHOICES`); each test that asks gets its own."""
    email = new_email()
    with new_context(browser) as context:
        lms = context.new_page()
        frame = start(lms, paying)
        to_confirm(frame, email)
        frame.locator("#register-tool").click()
        wait_for_close(lms)
        assert_registered_exactly(lms, "canvas", CHOICES)
    return email


def public_id_of(view: Frame | Page) -> str:
    found = re.search(r"/registration/([^/?#]+)/", view.url)
    assert found is not None, view.url
    return found.group(1)


def change_registration(live: LiveServer, public_id: str, **values: object) -> None:
    """Put a registration in a state the test needs (as the portal itself would have left it)."""
    with live.app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == public_id))
        assert registration is not None
        for name, value in values.items():
            setattr(registration, name, value)
        db.commit()


def dialog(page: Page) -> Any:
    return page.locator("#registration-dialog")


def check(page: Page, name: str, in_dialog: bool = True) -> Frame | Page:
    """axe-core on the portal's page (in the dialog, or `page` itself), light and dark."""
    view: Frame | Page = content_frame(page) if in_dialog else page
    view.wait_for_load_state("load")
    assert_accessible(page, view, name)
    return view


def start(lms: Page, live: LiveServer, profile: str = "canvas") -> FrameLocator:
    open_lms(lms, live.lms_url)
    start_registration(lms, profile)
    frame = portal_frame(lms)
    expect(frame.locator('[data-page="review"]')).to_be_visible()
    return frame


def sign_up_from_review(frame: FrameLocator, email: str) -> None:
    """From the review page to configure: signs up as `email` unless this browser is signed in."""
    expect(frame.locator("#continue")).to_be_visible()
    if frame.locator("#create-account").count():
        frame.locator("#create-account").click()
        sign_up(frame, email)
    else:
        frame.locator("#continue").click()
    expect(frame.locator('[data-page="configure"]')).to_be_visible()


def pay(frame: FrameLocator) -> None:
    checkout = frame.frame_locator("#checkout iframe")
    checkout.locator("#card_number").fill(PAYING_CARD)
    checkout.get_by_role("button", name="Pay").click()
    expect(frame.locator('[data-page="confirm"]')).to_be_visible()


def to_confirm(frame: FrameLocator, email: str) -> None:
    """From the review page: sign up as `email`, choose, pay, and arrive at the confirm page."""
    sign_up_from_review(frame, email)
    choose(frame, CHOICES)
    frame.locator("#save-choices").click()
    pay(frame)


def test_every_step_of_a_paid_registration_passes_axe_in_both_schemes(lms: Page, paying: LiveServer) -> None:
    frame = start(lms, paying)
    check(lms, "review")
    take_picture("dialog-1-review", dialog(lms))

    frame.locator("#create-account").click()
    expect(frame.locator('[data-page="sign-up"]')).to_be_visible()
    check(lms, "sign-up")
    take_picture("dialog-2-sign-up", dialog(lms))
    frame.locator("#sign-in-link").click()
    expect(frame.locator('[data-page="sign-in"]')).to_be_visible()
    check(lms, "sign-in")
    frame.locator("#sign-up-link").click()
    sign_up(frame, CUSTOMER)

    expect(frame.locator('[data-page="configure"]')).to_be_visible()
    check(lms, "configure")
    take_picture("dialog-3-configure", dialog(lms))
    frame.locator("#platform_name").fill("")
    frame.locator("#save-choices").click()
    expect(frame.locator("#form-errors")).to_be_visible()
    check(lms, "configure with an error")
    choose(frame, CHOICES)
    frame.locator("#save-choices").click()

    expect(frame.locator('[data-page="pay"]')).to_be_visible()
    checkout = frame.frame_locator("#checkout iframe")
    expect(checkout.locator("#card_number")).to_be_visible()
    check(lms, "payment")
    take_picture("dialog-4-payment", dialog(lms))
    pay(frame)
    check(lms, "confirm")
    take_picture("dialog-5-confirm", dialog(lms))
    lms.evaluate("window.scrollTo(0, 0)")
    ports = [lms.locator(where) for where in (".sb-masthead .sb-eyebrow", ".sb-lead code", "#register-url")]
    take_picture("registration-in-lms-dialog", lms, hide=ports)  # the ports change from run to run
    lms.emulate_media(color_scheme="dark")
    take_picture("dialog-5-confirm-dark", dialog(lms))
    lms.emulate_media(color_scheme="light")
    frame.locator("#register-tool").click()

    expect(frame.locator('[data-page="done"][data-state="completed"]')).to_be_visible()
    lms.wait_for_function("() => window.closeHeard === true")
    check(lms, "done")
    take_picture("dialog-6-done", dialog(lms), mask=[frame.locator("#platform-id")])


def test_the_configure_form_is_used_with_the_keyboard_alone_with_focus_always_visible(
    lms: Page, paying: LiveServer
) -> None:
    frame = start(lms, paying)
    sign_up_from_review(frame, "keyboard-user@springfield.example")
    view = content_frame(lms)

    def focused() -> dict[str, Any]:
        return view.evaluate(
            """() => {
              const element = document.activeElement;
              const style = getComputedStyle(element);
              return {
                id: element.id, tag: element.tagName, type: element.type || "",
                value: element.value || "", checked: !!element.checked,
                outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
              };
            }"""
        )

    def tab_to(wanted: str, limit: int = 40) -> dict[str, Any]:
        for _ in range(limit):
            lms.keyboard.press("Tab")
            now = focused()
            if now["tag"] not in ("BODY", "HTML", "IFRAME"):
                assert now["outline"], f"no visible focus on {now}"
            if now["id"] == wanted:
                return now
        raise AssertionError(f"Tab never reached #{wanted}")

    name = tab_to("platform_name")
    assert name["value"]  # prefilled
    lms.keyboard.press("Control+A")
    lms.keyboard.type("Typed by keyboard (Canvas)")
    wanted = {"LtiResourceLinkRequest": [f"{CANVAS}course_navigation"]}
    for box in view.locator('.message-option input[type="checkbox"]').all():
        box_id = box.get_attribute("id") or ""
        value = box.get_attribute("value") or ""
        if not box.is_enabled():
            continue
        state = tab_to(box_id)
        message = box.evaluate("b => b.closest('.message-option').dataset.messageType")
        is_message = box.get_attribute("name") == "messages"
        should = value in wanted if is_message else value in wanted.get(message, [])
        if state["checked"] != should:
            lms.keyboard.press("Space")
    tab_to("save-choices")
    lms.keyboard.press("Enter")

    expect(frame.locator('[data-page="pay"]')).to_be_visible()
    # The payment form mounts above the link and moves it: click once the page has settled.
    expect(frame.frame_locator("#checkout iframe").locator("#card_number")).to_be_visible()
    frame.locator("#change").click()  # back to check what the keyboard chose
    expect(frame.locator("#platform_name")).to_have_value("Typed by keyboard (Canvas)")
    expect(frame.locator('input[name="messages"]:checked')).to_have_count(1)


def test_the_step_bar_names_every_step_to_screen_readers_even_on_a_phone(
    context: BrowserContext, paying: LiveServer
) -> None:
    lms = context.new_page()
    open_lms(lms, paying.lms_url)
    with context.expect_page() as new_tab:
        start_registration(lms, "brightspace")
    tab = new_tab.value
    tab.set_viewport_size({"width": 360, "height": 740})
    expect(tab.locator('[data-page="review"]')).to_be_visible()
    steps = tab.locator("nav.steps")
    current = steps.locator('[aria-current="step"]')
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-step", "review")
    labels = steps.locator(".step-label").all_inner_texts()
    snapshot = steps.aria_snapshot()
    for number, label in enumerate(labels, start=1):
        assert f"Step {number} of {len(labels)}: {label}" in snapshot, snapshot
    # On screen, only the current step's name shows.
    hidden_label = steps.locator('[data-step="configure"] .step-label')
    assert hidden_label.evaluate("label => label.getBoundingClientRect().width") <= 1
    check(tab, "review on a phone", in_dialog=False)


def test_the_check_fails_on_text_too_faint_to_read_and_says_where(page: Page, paying: LiveServer) -> None:
    page.goto(paying.url + "/")
    page.locator(".lead").evaluate("lead => { lead.style.color = '#c8ccd2'; }")
    with pytest.raises(AssertionError) as failed:
        check(page, "home, made faint", in_dialog=False)
    assert "color-contrast (serious)" in str(failed.value)
    assert ".lead" in str(failed.value)


def test_problem_pages_without_a_registration_pass_axe(page: Page, paying: LiveServer) -> None:
    for name, path in [
        ("missing registration id", "/intermediate-target"),
        ("forged registration id", "/intermediate-target?registrationId=%3Cscript%3E"),
        ("unknown registration", "/intermediate-target?registrationId=0123456789abcdef0123456789abcdef"),
        ("page not found", "/no-such-page"),
    ]:
        page.goto(paying.url + path)
        expect(page.locator("h1")).to_be_visible()
        check(page, name, in_dialog=False)


def test_an_expired_registration_and_one_from_another_window_pass_axe(lms: Page, paying: LiveServer) -> None:
    start(lms, paying)
    view = content_frame(lms)
    public_id = public_id_of(view)

    other = lms.context.new_page()  # the same URL opened top-level: another window, another session
    other.goto(re.sub(r"[?&]_st=[^&]*", "", view.url))  # without the session token it may carry
    expect(other.locator('[data-problem="not_in_session"]')).to_be_visible()
    check(other, "not in this window", in_dialog=False)
    other.close()

    change_registration(paying, public_id, expires_at=utcnow() - timedelta(minutes=1))
    view.goto(view.url)
    expect(portal_frame(lms).locator('[data-problem="expired"]')).to_be_visible()
    check(lms, "expired")


def test_ltiaas_unavailable_passes_axe_and_offers_to_try_again(lms: Page, paying: LiveServer) -> None:
    working = paying.app.extensions["ltiaas"]
    settings = dict(paying.app.config, LTIAAS_URL=f"http://127.0.0.1:{free_port()}")
    paying.app.extensions["ltiaas"] = LtiaasClient.from_config(settings)  # nobody listens there
    try:
        open_lms(lms, paying.lms_url)
        start_registration(lms, "canvas")
        frame = portal_frame(lms)
        expect(frame.locator('[data-problem="ltiaas_unavailable"]')).to_be_visible()
        expect(frame.locator("#retry")).to_be_visible()
        check(lms, "LTIAAS unavailable")
    finally:
        paying.app.extensions["ltiaas"] = working
    frame.locator("#retry").click()  # LTIAAS is back: the same registration goes on
    expect(frame.locator('[data-page="review"]')).to_be_visible()


def test_an_lms_that_refuses_shows_its_words_on_a_page_that_passes_axe(lms: Page, paying: LiveServer) -> None:
    open_lms(lms, paying.lms_url)
    lms.locator("#refuse").check()
    start_registration(lms, "canvas")
    frame = portal_frame(lms)
    to_confirm(frame, "refused-admin@springfield.example")
    frame.locator("#register-tool").click()

    expect(frame.locator('[data-problem="lms_refused"]')).to_be_visible()
    expect(frame.locator("#lms-words")).to_contain_text("does not accept tools from this domain")
    check(lms, "LMS refused")
    take_picture("dialog-problem-lms-refused", dialog(lms), mask=[frame.locator("#paid-not-registered code")])


def test_a_completion_that_never_settles_is_announced_and_ends_on_an_outcome_unknown_page(
    context: BrowserContext, lms: Page, paying: LiveServer
) -> None:
    heard: list[tuple[str, str]] = []
    context.expose_binding("recordAnnouncement", lambda _source, path, text: heard.append((path, text)))
    context.add_init_script(RECORD_ANNOUNCEMENTS)
    frame = start(lms, paying)
    to_confirm(frame, "unsettled-admin@springfield.example")
    view = content_frame(lms)
    public_id = public_id_of(view)

    # Another process took the completion and is waiting on LTIAAS: this window shows it finishing.
    change_registration(paying, public_id, state="completing", updated_at=utcnow())
    view.goto(view.url.replace("/confirm", "/done"))
    expect(frame.locator('[data-page="done"][data-state="completing"]')).to_be_visible()
    expect(frame.locator("#finishing")).to_have_attribute("aria-live", "polite")
    check(lms, "finishing")

    # ... and died there: the page says so in its live region, then shows what is known.
    change_registration(paying, public_id, updated_at=utcnow() - timedelta(hours=1))
    expect(frame.locator('[data-problem="outcome_unknown"]')).to_be_visible()
    assert any("Loading" in text for path, text in heard if path.endswith("/done")), heard
    expect(frame.locator("#paid-outcome-unknown")).to_be_visible()
    check(lms, "outcome unknown")


def test_an_already_used_registration_passes_axe(lms: Page, paying: LiveServer) -> None:
    start(lms, paying)
    view = content_frame(lms)
    change_registration(
        paying,
        public_id_of(view),
        state="failed",
        problem="already_used",
        last_error="LTIAAS says this registration was already used.",
    )
    view.goto(view.url)
    expect(portal_frame(lms).locator('[data-problem="already_used"]')).to_be_visible()
    check(lms, "already used")


def wait_for_approval(lms: Page, live: LiveServer, email: str) -> FrameLocator:
    frame = start(lms, live)
    sign_up_from_review(frame, email)
    choose(frame, CHOICES)
    frame.locator("#save-choices").click()
    frame.locator("#request-approval").click()
    expect(frame.locator('[data-page="waiting"][data-approval="pending"]')).to_be_visible()
    return frame


def test_waiting_for_an_approval_announces_the_decision_and_every_page_passes_axe(
    context: BrowserContext, lms: Page, staff: Page, approving: LiveServer
) -> None:
    heard: list[tuple[str, str]] = []
    context.expose_binding("recordAnnouncement", lambda _source, path, text: heard.append((path, text)))
    context.add_init_script(RECORD_ANNOUNCEMENTS)
    frame = wait_for_approval(lms, approving, "waiting-admin@springfield.example")
    expect(frame.locator("#waiting-status")).to_have_attribute("aria-live", "polite")
    check(lms, "waiting for approval")
    take_picture("dialog-waiting-for-approval", dialog(lms))

    staff.goto(f"{approving.url}/admin/approvals/")
    sign_in(staff, STAFF)
    staff.locator(".request-item", has_text="waiting-admin@").get_by_role("link").click()
    check(staff, "staff: an approval request", in_dialog=False)
    staff.locator("#confirm_approve").check()
    staff.locator("#approve").click()
    expect(staff.locator(".notice-success")).to_be_visible()
    check(staff, "staff: a decided approval request", in_dialog=False)

    expect(frame.locator('[data-page="done"][data-state="completed"]')).to_be_visible()
    lms.wait_for_function("() => window.closeHeard === true")
    # The waiting page said what changed before it reloaded: approved (while the staff's approval was
    # still registering the tool) or registered, whichever its poll saw first.
    news = {text for path, text in heard if path.endswith("/waiting")}
    assert news & {"Approved. Finishing the registration…", "Registered. Loading the result…"}, heard


def test_a_declined_and_a_withdrawn_request_pass_axe(lms: Page, staff: Page, approving: LiveServer) -> None:
    frame = wait_for_approval(lms, approving, "declined-admin@springfield.example")
    staff.goto(f"{approving.url}/admin/approvals/")
    sign_in(staff, STAFF)
    staff.locator(".request-item", has_text="declined-admin@").get_by_role("link").click()
    staff.locator("#reason").fill("We only serve schools with a licence.")
    staff.locator("#confirm_reject").check()
    staff.locator("#reject").click()
    expect(frame.locator("#rejection-reason")).to_be_visible()
    check(lms, "declined")

    frame = wait_for_approval(lms, approving, "withdrawing-admin@springfield.example")
    frame.locator("#withdraw-confirm").check()
    frame.locator("#withdraw").click()
    expect(frame.locator('[data-approval="withdrawn"], [data-problem="withdrawn"]')).to_be_visible()
    check(lms, "withdrawn")
    view = content_frame(lms)
    view.goto(view.url.replace("/waiting", "/confirm"))
    expect(frame.locator('[data-problem="withdrawn"]')).to_be_visible()
    check(lms, "withdrawn, opened again")


def test_asking_again_for_an_lms_with_a_request_waiting_stops_on_a_page_that_passes_axe(
    lms: Page, approving: LiveServer
) -> None:
    wait_for_approval(lms, approving, "twice-admin@springfield.example")
    frame = start(lms, approving)  # the dialog was closed; the LMS starts again
    sign_up_from_review(frame, "twice-admin@springfield.example")  # still signed in: goes on
    choose(frame, CHOICES)
    frame.locator("#save-choices").click()
    expect(frame.locator('[data-page="asked-already"]')).to_be_visible()
    check(lms, "asked for this LMS already")


def test_a_request_withdrawn_from_the_account_page_is_announced_in_the_waiting_dialog(
    context: BrowserContext, lms: Page, approving: LiveServer
) -> None:
    heard: list[tuple[str, str]] = []
    context.expose_binding("recordAnnouncement", lambda _source, path, text: heard.append((path, text)))
    context.add_init_script(RECORD_ANNOUNCEMENTS)
    frame = wait_for_approval(lms, approving, "account-page-admin@springfield.example")
    account = context.new_page()  # the portal's own tab: another cookie partition, so signed in again
    account.goto(f"{approving.url}/auth/sign-in?next=/auth/account")
    sign_in(account, "account-page-admin@springfield.example")
    account.locator("#withdraw-confirm-1").check()
    account.locator("#withdraw-1").click()
    expect(frame.locator('[data-problem="withdrawn"]')).to_be_visible()
    news = {text for path, text in heard if path.endswith("/waiting")}
    assert "Your request was withdrawn. Loading the details…" in news, heard


def test_a_customers_account_page_and_its_organisation_page_pass_axe(
    page: Page, paying: LiveServer, paid_customer: str
) -> None:
    """In the portal's own tab, as a customer who paid for a registration and registered it."""
    page.goto(f"{paying.url}/auth/sign-in?next=/auth/account")
    sign_in(page, paid_customer)
    expect(page.locator('[data-page="account"]')).to_be_visible()
    check(page, "a customer's account page", in_dialog=False)
    page.locator("#change-organisation-link").click()
    expect(page.locator('[data-page="organisation"]')).to_be_visible()
    check(page, "a customer's organisation", in_dialog=False)
    page.locator("#organisation").fill("")
    page.locator("#organisation-submit").click()
    expect(page.locator("#organisation-errors")).to_be_visible()
    check(page, "a customer's organisation with an error", in_dialog=False)
    page.goto(f"{paying.url}/auth/account")
    page.locator("#change-email-link").click()
    expect(page.locator('[data-page="change-email"]')).to_be_visible()
    check(page, "a customer's change of e-mail address", in_dialog=False)
    page.goto(f"{paying.url}/auth/account")
    page.locator("#delete-account-link").click()
    expect(page.locator('[data-page="delete-account"]')).to_be_visible()
    check(page, "a customer's account deletion", in_dialog=False)  # asked, not done


def test_the_staff_console_passes_axe_in_both_schemes(
    staff: Page, paying: LiveServer, paid_customer: str
) -> None:
    """Every page of the console, with a customer's paid registration (and any other test's)."""
    staff.goto(f"{paying.url}/auth/sign-in")
    sign_in(staff, STAFF)
    expect(staff.locator("h1")).to_be_visible()
    check(staff, "staff: after signing in", in_dialog=False)

    def visit(name: str, path: str, page: str) -> None:
        staff.goto(paying.url + path)
        expect(staff.locator(f'[data-page="{page}"]')).to_be_visible()
        check(staff, f"staff: {name}", in_dialog=False)

    visit("overview", "/admin/", "admin-overview")
    take_picture("console-overview", staff, mask=[staff.locator(".chart-week")])
    visit("registrations", "/admin/registrations/", "admin-registrations")
    take_picture("console-registrations", staff, mask=[staff.locator('td[data-label="Received"]')])
    staff.locator(".registration-link", has_text=CHOICES.platform_name).first.click()
    expect(staff.locator('[data-page="admin-registration"]')).to_be_visible()
    check(staff, "staff: a registration", in_dialog=False)
    visit("approvals", "/admin/approvals/", "admin-approvals")
    visit("payments", "/admin/payments/", "admin-payments")
    visit("platforms", "/admin/platforms/", "admin-platforms")
    take_picture("console-platforms", staff, mask=[staff.locator(".platform-meta code")])
    staff.locator(".platform-link").first.click()
    expect(staff.locator('[data-page="admin-platform"]')).to_be_visible()
    check(staff, "staff: a platform", in_dialog=False)
    visit("people", "/admin/people/", "admin-people")
    staff.get_by_role("link", name=STAFF).click()
    expect(staff.locator('[data-page="admin-person"]')).to_be_visible()
    check(staff, "staff: a person", in_dialog=False)
    staff.goto(paying.url + "/admin/people/")
    staff.get_by_role("link", name=paid_customer).click()
    expect(staff.locator('[data-page="admin-person"]')).to_be_visible()
    check(staff, "staff: a customer", in_dialog=False)
    staff.locator("#erase-link").click()
    expect(staff.locator('[data-page="admin-person-erase"]')).to_be_visible()
    check(staff, "staff: erasing a customer's personal data", in_dialog=False)  # asked, not done
    visit("a new staff account", "/admin/people/new", "admin-new-staff")
    visit("a new customer account", "/admin/people/new-customer", "admin-new-customer")
    visit("audit trail", "/admin/audit/", "admin-audit")
    visit("notifications", "/admin/notifications/", "admin-notifications")
    visit("a wrong link", "/admin/registrations/no-such-registration", "admin-not-found")


def test_the_staff_sign_in_and_a_paused_sign_in_pass_axe(page: Page, paying: LiveServer) -> None:
    """The console's own sign-in page, then the page shown once wrong passwords paused an address."""
    page.goto(f"{paying.url}/admin/")
    expect(page.get_by_role("heading", name="Sign in to the staff console")).to_be_visible()
    check(page, "staff: sign in to the console", in_dialog=False)

    for _ in range(paying.app.config["LOGIN_FAILURE_LIMIT"] + 1):
        sign_in(page, "nobody@nowhere.example", "not the password")
    expect(page.locator('[data-page="account-locked"]')).to_be_visible()
    check(page, "signing in is paused", in_dialog=False)
