"""The PoC officers of two states trace a seized pistol in their browsers: Uganda composes and sends the
request, Kenya's node receives it over signed federation messages, Kenya's officer reviews the ranked
candidates and answers, Uganda sees the answer with the weapon's path and closes the case.

Two real nodes (own SQLite databases, own keys, uvicorn on loopback ports); one browser context per node,
since both serve on 127.0.0.1 and cookies do not tell ports apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from registry.history.inputs import EventInput
from registry.profiles import ITI
from registry.reference.service import seed_reference_data
from registry.users import service as users
from registry.weapons import service as weapons
from tests.e2e.conftest import PASSWORD, shot
from tests.factories import import_marking, manufacture_marking, weapon_input
from tests.tracing.federation.nodes import Node, introduce, make_node

SERIAL = "GX4471"


@pytest.fixture
def two_states(tmp_path: Path) -> Iterator[dict[str, Node]]:
    made = {}
    for country in ("KE", "UG"):
        node = make_node(country, f"sqlite:///{tmp_path / (country + '.db')}", tmp_path / f"var-{country}")
        with node.tx() as session:
            seed_reference_data(session, actor="setup")
            users.add_user(session, actor="setup", username="poc", role="poc_officer", password=PASSWORD)
        node.start()
        made[country] = node
    introduce(made["KE"], made["UG"])
    with made["KE"].tx() as session:
        weapons.register(
            session, actor="registry", profile=ITI, home_country="KE", weapon=weapon_input(),
            markings=[manufacture_marking(SERIAL), import_marking("KE", 2024, text="KE 24 IMP-5521")],
            event=EventInput(type="imported", from_country="AT", to_country="KE"),
        )  # fmt: skip
    yield made
    for node in made.values():
        node.stop()
        node.engine.dispose()


def pump(*nodes: Node) -> None:
    """What the delivery loop does every few seconds in production: deliver queued messages (and replies)."""
    for _ in range(5):
        if not sum(len(n.deliver().delivered) for n in nodes):
            return


@pytest.fixture
def contexts(chromium: Browser, two_states: dict[str, Node]) -> Iterator[dict[str, BrowserContext]]:
    made = {
        c: chromium.new_context(base_url=n.url, viewport={"width": 1280, "height": 720})
        for c, n in two_states.items()
    }
    yield made
    for ctx in made.values():
        ctx.close()


def sign_in_poc(ctx: BrowserContext) -> Page:
    page = ctx.new_page()
    page.goto("/ui/login")
    page.get_by_label("User name").fill("poc")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")
    return page


def test_compose_send_answer_and_close_across_two_nodes(
    two_states: dict[str, Node], contexts: dict[str, BrowserContext]
) -> None:
    ke, ug = two_states["KE"], two_states["UG"]
    # Uganda composes the request from what its officers read on the seized pistol.
    uganda = sign_in_poc(contexts["UG"])
    uganda.get_by_role("navigation", name="Main").get_by_role("link", name="Traces").click()
    uganda.get_by_role("link", name="Compose a request").first.click()
    uganda.get_by_label("Requested state").fill("KE")
    uganda.get_by_label("Case reference").fill("UG/CID/2026/311")
    uganda.get_by_label("Illicit nature of the weapon (ITI 17(a))").fill("seized from a robbery suspect")
    uganda.get_by_label("Legal justification").fill("Firearms Act (Uganda) s.3")
    uganda.get_by_label("Intended use of the information").select_option("prosecution")
    uganda.get_by_label("Intended use, in words (ITI 17(c))").fill("prosecution of the suspect")
    uganda.get_by_label("Seized, found or surrendered").select_option("seized")
    uganda.get_by_label("Date", exact=True).fill("2026-10-02")
    uganda.get_by_label("Place", exact=True).fill("Kampala")
    uganda.get_by_label("Category").fill("SA-PIS")
    uganda.get_by_label("Make").fill("Glock")
    uganda.get_by_label("Calibre").fill("9mm Luger")
    uganda.get_by_label("Marking 1: text").fill("GLOCK AUSTRIA GX4?7?")
    uganda.get_by_label("Marking 1: where on the weapon").fill("frame, left")
    uganda.get_by_label("Marking 1: serial part, if known").fill("GX4?7?")
    uganda.get_by_label("Marking 2: text").fill("KE 24 IMP-5521")
    uganda.get_by_label("Marking 2: where on the weapon").fill("frame, right")
    shot(uganda, "poc-officer-compose")
    uganda.get_by_role("button", name="Save the draft").click()
    expect(uganda.get_by_test_id("trace-state")).to_have_attribute("data-state", "draft")
    uganda.get_by_role("button", name="Send the request").click()
    expect(uganda.get_by_test_id("trace-state")).to_have_attribute("data-state", "sent")
    expect(uganda.get_by_test_id("lost-stolen")).to_be_visible()
    trace_url = uganda.url.split("?")[0]
    trace_path = trace_url.removeprefix(ug.url)

    pump(ug, ke)  # signed request to Kenya; Kenya's automatic acknowledgement back

    # Kenya: the request waits on the dashboard; the right pistol leads the candidates.
    kenya = sign_in_poc(contexts["KE"])
    expect(kenya.get_by_test_id("trace-inbox")).to_contain_text("UG/CID/2026/311")
    shot(kenya, "poc-officer-dashboard")
    kenya.get_by_test_id("trace-inbox").get_by_role("link", name="UG/CID/2026/311").click()
    expect(kenya.get_by_test_id("trace-state")).to_have_attribute("data-state", "acknowledged")
    candidates = kenya.get_by_test_id("candidates").locator("tbody tr")
    expect(candidates.first).to_contain_text(SERIAL)
    shot(kenya, "poc-officer-candidates")
    answer = kenya.get_by_test_id("answer-form")
    answer.get_by_role("radio", name=SERIAL).check()
    answer.get_by_label("Text of the answer").fill("imported from Austria in 2024")
    answer.get_by_role("button", name="Send the answer").click()
    expect(kenya.get_by_test_id("trace-state")).to_have_attribute("data-state", "answered")

    pump(ke, ug)

    # Uganda: the answer with the weapon's path; Austria is the next state to ask; the case is closed.
    uganda.goto(trace_path)
    expect(uganda.get_by_test_id("trace-state")).to_have_attribute("data-state", "answered")
    expect(uganda.get_by_test_id("chain-countries")).to_contain_text("AT → KE")
    expect(uganda.get_by_label("State to ask next")).to_have_value("AT")
    shot(uganda, "poc-officer-answer")
    uganda.get_by_role("radio", name="yes").check()
    uganda.get_by_role("button", name="Close the request").click()
    expect(uganda.get_by_test_id("trace-state")).to_have_attribute("data-state", "closed")
    history = uganda.get_by_test_id("trace-history")
    for step in ("send", "acknowledge", "answer", "close"):
        expect(history).to_contain_text(step)
    uganda.goto("/ui/traces/stats")
    expect(uganda.get_by_test_id("trace-totals").locator("[data-key='sent']")).to_have_text("1")
    shot(uganda, "poc-officer-statistics")
