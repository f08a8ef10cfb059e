"""Every page on a phone: 375 px wide, no sideways scroll, no serious axe-core violation.

The pages come from Flask's URL map, so a page added later is checked without anyone
remembering to list it: each GET rule is either visited (its URL built from the world made
here) or named in NOT_PAGES with the reason. The world is the built-in Graph sandbox, so
the incident has its Teams channel, emails and Word reports, and the sandbox page has
requests to show. One browser is reused for every page.
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.alerts import service as alerts
from app.auth.models import User
from app.auth.service import create_api_token
from app.catalogue import service as catalogue
from app.incidents.models import Incident, TimelineEntry
from app.people.models import RoleHandover
from app.updates.models import UpdateTemplate
from app.uptime import service as uptime
from tests.conftest import CI, Browser, drain
from tests.e2e.test_browser import AXE, CHROMIUM, FLAGS, ROOT

pytestmark = pytest.mark.slow  # a real Chromium

PHONE = {"width": 375, "height": 812}
SHOTS = ROOT / "artifacts" / "screenshots" / "phone"
NOT_PAGES = {  # GET rules that are not HTML pages for a person to read
    "static": "CSS, JavaScript, images",
    "healthz": "a health check for load balancers",
    "status.feed": "an Atom feed",
    "documents.download": "a .docx download",
    "reporting.monthly": "a .docx download",
    "m365.sandbox_file": "a .docx download",
    "teams_app.download": "the Teams app's .zip",
    "api.list_incidents": "JSON for API clients",
    "api.get_incident": "JSON for API clients",
    "tab.consent": "a redirect to Entra's consent prompt (the Teams tab's pop-up)",
    "tab.sandbox_host": "a redirect to the Graph sandbox's Teams host page (not ours)",
}
LONG_WORD = "Supercalifragilisticexpialidocious-payments-gateway-eu-west-2-" + "x" * 40
LONG_TITLE = f"Checkout failing for card payments across every region after {LONG_WORD}"
ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = new Set();
    for (const el of document.body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (box.width > 0 && Math.max(box.right, box.left + el.scrollWidth) > width + 1) {
            wide.add(el);
        }
    }
    const culprits = [...wide].filter(el => ![...el.children].some(c => wide.has(c)));
    return {scroll: document.documentElement.scrollWidth, width,
            wide: culprits.slice(0, 5).map(el => `${el.tagName.toLowerCase()}.${el.className} `
                + `"${el.textContent.trim().slice(0, 40)}"`)};
}"""
AXE_RUN = """async () => {
    const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                 'wcag22aa', 'best-practice']});
    return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
             v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


def ok(response, what: str) -> None:
    assert response.status_code in (200, 302), f"{what}: {response.status_code}"


def build_world(app, session, frozen_clock) -> dict:
    """Realistic data for every page; returns the values for the URL map's arguments, and
    extra URLs for pages whose look depends on the data (per endpoint)."""
    from app.jobs import sweep_outbox

    admin = Browser(app.test_client())
    admin.sign_in("Ada Admin", "ada@example.com", admin=True)
    deputy = Browser(app.test_client())
    deputy.sign_in("Dee Deputy-Longsurname-Featherstonehaugh", "dee@example.com")
    ok(admin.submit("/contacts", "/contacts/sync"), "contact sync")
    drain(app)
    deputy_id = session.scalar(select(User.id).where(User.email == "dee@example.com"))
    session.commit()

    main = admin.declare(title=LONG_TITLE, severity="P1", new_services="Payments",
                         description=f"Card payments return 502 since 08:55. {LONG_WORD}")
    drain(app)
    url = f"/incidents/{main}"
    for text in ("Rolled back release 42", f"Logs show {LONG_WORD} timing out",
                 "Line one\nLine two\n  indented line three"):
        ok(admin.submit(url, f"{url}/notes", {"note-text": text}), "note")
    ok(admin.submit(f"{url}/updates/new", data={
        "phase": "investigating", "message": f"We are on it & will update by 10:00. {LONG_WORD}",
        "to_channel": "y", "extra_recipients": "board@example.org"}), "update")
    ok(admin.submit(url, f"{url}/roles", {"role-role": "incident_lead",
                                          "role-user": str(deputy_id)}), "offer the lead")
    ok(admin.submit(f"{url}/actions/new", data={
        "description": f"Add a canary for {LONG_WORD}", "owner": "0", "status": "open"}),
       "follow-up action")
    publish(admin, session, main)
    drain(app)
    frozen_clock.advance(minutes=5)  # past the reports' debounce: the sweep writes them
    with app.app_context():
        sweep_outbox()
    drain(app)

    resolved = admin.declare(title="Search down", severity="P2", new_services="Search")
    ok(admin.submit(f"/incidents/{resolved}", f"/incidents/{resolved}/status",
                    {"status-status": "resolved", "status-note": "Index rebuilt"}), "resolve")
    security = admin.declare(title="Laptop stolen", severity="P3", is_security="y")
    drain(app)

    incident_id = session.scalar(select(Incident.id).where(Incident.reference == main))
    actions = admin.get("/actions?state=all").get_data(as_text=True)
    user = session.scalar(select(User).where(User.email == "ada@example.com"))
    create_api_token(session, user, "Deploy pipeline")
    alerts.create_source(session, user, name="Grafana alerts", kind="generic", severity=None)
    supplier = catalogue.save_supplier(
        session, None, name="Hosting Ltd", support_route="0800 000 000",
        hours="24x7", escalation="Ask for the duty manager", url="https://example.com/" +
        "support/" * 8)
    service = catalogue.save_service(session, None, catalogue.ServiceFields(
        name=f"Payroll {LONG_WORD}", owner="Olly Owner", description="Pays people.",
        runbook_url="https://example.com/runbooks/payroll", supplier_ids=(supplier.id,)))
    steps = [catalogue.save_step(session, None, name=name, role="On call", phone="0700 900 123",
                                 email="duty@example.org", when="Out of hours").id
             for name in ("Duty manager", "Director of digital services")]
    values = {
        "reference": main,
        "entry_id": session.scalar(select(TimelineEntry.id).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == "note")),
        "handover_id": session.scalar(select(RoleHandover.id).where(
            RoleHandover.incident_id == incident_id)),
        "action_id": int(re.search(rf"/incidents/{main}/actions/(\d+)/edit", actions)[1]),
        "service_id": service.id, "supplier_id": supplier.id, "step_id": steps[0],
        "template_id": session.scalar(select(UpdateTemplate.id).order_by(UpdateTemplate.id)),
        "check_id": uptime.save_check(session, service, None, user, uptime.CheckFields(
            url="https://payroll.example.org/" + "health/" * 8, expected_status=200,
            timeout_seconds=10, interval_seconds=300, failures_before_open=3,
            enabled=False)).id,
    }
    session.commit()
    assert None not in values.values(), values
    incident = admin.get(url).get_data(as_text=True)
    assert "Write it again now" in incident, "the running report should be written"
    extra = {
        "incidents.show": [f"/incidents/{resolved}", f"/incidents/{security}"],
        "incidents.list_incidents": ["/incidents?state=all"],
        "actions.all_actions": ["/actions?state=all"],
    }
    review = {"documents.review": resolved}
    return {"values": values, "extra": extra, "reference_for": review}


def publish(admin: Browser, session, reference: str) -> None:
    """Put the incident on the public status page."""
    from app.incidents.models import Service

    for service in session.scalars(select(Service)):
        service.public = True
    session.commit()
    ok(admin.submit(f"/incidents/{reference}/updates/new", data={
        "phase": "identified", "message": "Card payments are failing; a fix is going out.",
        "publish": "y", "public_title": f"Card payments failing {LONG_WORD}"}), "publish")


def page_urls(app, world) -> list[tuple[str, str]]:
    """(endpoint, url) for every page in the URL map, and the data-dependent extras."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert not set(NOT_PAGES) - endpoints, f"NOT_PAGES names no route: {set(NOT_PAGES) - endpoints}"
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
            continue
        values = dict(world["values"])
        if rule.endpoint in world["reference_for"]:
            values["reference"] = world["reference_for"][rule.endpoint]

        def value(match, values=values, rule=rule):
            name = match.group(1)
            assert name in values, (f"{rule.rule}: no value for <{name}>; add one to the "
                                    "world, or the rule to NOT_PAGES")
            return str(values[name])

        urls.append((rule.endpoint, ARG.sub(value, rule.rule)))
    for endpoint, extra in world["extra"].items():
        urls += [(endpoint, url) for url in extra]
    return urls


def serve(app):
    """The app on a free local port, in a thread, for the browser."""
    app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def problems_on(page, name: str) -> list[str]:
    """Sideways scroll (with the widest culprits named) and serious axe-core violations."""
    found = []
    size = page.evaluate(OVERFLOW)
    if size["scroll"] > size["width"]:
        found.append(f"{name}: scrolls sideways ({size['scroll']} px > {size['width']} px): "
                     f"{'; '.join(size['wide'])}")
    page.add_script_tag(path=str(AXE))
    found += [f"{name}: {v}" for v in page.evaluate(AXE_RUN)]
    return found


def test_every_page_reads_on_a_phone(sandbox_app, session, frozen_clock):
    if not CHROMIUM.exists():
        if CI:
            pytest.fail(f"{CHROMIUM} is required under CI=true (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    world = build_world(sandbox_app, session, frozen_clock)
    urls = page_urls(sandbox_app, world)
    server = serve(sandbox_app)
    base = f"http://127.0.0.1:{server.server_port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            context = browser.new_context(base_url=base, viewport=PHONE, is_mobile=True,
                                          has_touch=True, device_scale_factor=1,
                                          bypass_csp=True)  # only so axe can be injected
            page = context.new_page()
            for name, url in (("sign-in", "/sign-in"), ("status page signed out", "/status"),
                              ("not found", "/no-such-page")):
                page.goto(url)
                problems += problems_on(page, name)
            page.goto("/sign-in")
            page.get_by_label("Your name").fill("Ada Admin")
            page.get_by_label("Email address").fill("ada@example.com")
            page.get_by_label("Sign in as an administrator").check()
            page.get_by_role("button", name="Sign in (development)").click()
            page.wait_for_url("**/incidents")
            seen = set()
            for endpoint, url in urls:
                response = page.goto(url)
                assert response.status == 200, f"{endpoint} {url}: {response.status}"
                problems += problems_on(page, f"{endpoint} {url}")
                if endpoint not in seen:
                    page.screenshot(path=str(SHOTS / f"{endpoint}.png"), full_page=True)
                    (SHOTS / f"{endpoint}.html").write_text(page.content())
                    seen.add(endpoint)
            page.goto("/microsoft-365/check")  # and its results, once run
            page.get_by_role("button", name="Run the check").click()
            page.wait_for_load_state()
            problems += problems_on(page, "set-up check results")
            context.close()
            browser.close()
    finally:
        server.shutdown()
    assert not problems, f"{len(problems)} problems on a phone:\n" + "\n".join(problems)
