"""Stakeholder email through the real client and the sandbox, whatever happens between
saving the draft and sending it: each interleaving of lost answers and dead workers ends
with the message sent exactly once and nothing left in Drafts; a delivery that gives up
deletes its draft."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.auth.models import User
from app.m365.handlers import HANDLERS
from app.outbox import runner
from app.outbox import service as outbox
from app.outbox.models import SENDING, Delivery
from graph.client import GraphClient
from graph.port import Mail, Sender
from graph.sandbox import SandboxApp, SandboxServer, SandboxState
from graph.sandbox.seed import SHARED_MAILBOX
from graph.tokens import sandbox_app_token, sandbox_token
from tests.conftest import sandbox_tenant

ADA = "ada@example.com"
ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 20.0


@pytest.fixture
def sandbox(frozen_clock):
    with SandboxServer(state=SandboxState(clock=frozen_clock)) as server:
        sandbox_tenant(server.state, ADA)
        server.faults.configure(hang=0.3)  # a "timeout" fault: no answer, quickly
        yield server


@pytest.fixture(params=["me", "shared"])
def mailbox(request) -> str | None:
    """As the person (/me, delegated) and from the shared mailbox (the app's own token,
    Exchange RBAC grant on that mailbox only), the two ways stakeholder email goes."""
    return None if request.param == "me" else SHARED_MAILBOX


@pytest.fixture
def graph(sandbox, mailbox) -> GraphClient:
    base = sandbox.graph_base_url
    token = sandbox_token(base, ADA) if mailbox is None else sandbox_app_token(base)
    return GraphClient(base, token, timeout=1.0)


def add_mail(session, mailbox: str | None, key: str = "INC-2026-0001/mail/1",
             to=("pat@example.com",)) -> int:
    ada = session.query(User).filter_by(email=ADA).one_or_none()
    if ada is None:
        ada = User(entra_oid="dev-ada", name="Ada", email=ADA)
        session.add(ada)
    payload = {"subject": "Update", "html": "<p>Service restored</p>", "to": list(to),
               "bcc": ["stakeholder1@example.com", "stakeholder2@example.com"]}
    if mailbox:
        payload["mailbox"] = mailbox
    delivery = outbox.add(session, key=key, kind="mail.send", payload=payload, actor=ada)
    session.commit()  # no app context: nothing is queued; the test runs each attempt
    return delivery.id


def attempt(session, graph, delivery_id: int, clock) -> str:
    clock.advance(minutes=10)  # past any backoff
    outcome = runner.deliver(session, delivery_id, graph_for=lambda _d: graph,
                             handlers=HANDLERS)
    session.expire_all()
    return outcome


def posts(sandbox, ending: str) -> int:
    return sum(1 for r in sandbox.state.requests()
               if r["method"] == "POST" and r["path"].endswith(ending))


def assert_sent_once_and_no_draft(sandbox, session, delivery_id: int) -> Delivery:
    row = session.get(Delivery, delivery_id)
    assert row.status == "delivered", row.last_error
    (sent,) = sandbox.state.mails()
    assert sent["bcc"] == ["stakeholder1@example.com", "stakeholder2@example.com"]
    assert sent["headers"] == {"x-incident-desk-delivery": row.key}
    assert sandbox.state.drafts() == []
    return row


def died_holding_it(session, delivery_id: int, clock) -> None:
    """What a worker SIGKILLed mid-call leaves: the row claimed, its lease running out."""
    row = session.get(Delivery, delivery_id)
    row.status = SENDING
    row.attempts += 1
    row.lease_until = clock() + timedelta(seconds=1)
    session.commit()


def dead_workers_create(graph, mailbox: str | None, key: str) -> None:
    """The create a worker made just before it died, applied by Outlook."""
    graph.create_draft(Sender(mailbox), Mail(
        subject="Update", html_body="<p>Service restored</p>", to=["pat@example.com"],
        bcc=["stakeholder1@example.com", "stakeholder2@example.com"], delivery_key=key))


# ---- each interleaving ---------------------------------------------------------------------


def test_a_lost_answer_to_the_create_sends_the_draft_it_made(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    sandbox.faults.fail_next(1, "lost_response", "/messages")
    assert attempt(session, graph, delivery_id, frozen_clock) == "retrying"
    assert len(sandbox.state.drafts()) == 1 and sandbox.state.mails() == []
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    row = assert_sent_once_and_no_draft(sandbox, session, delivery_id)
    assert posts(sandbox, "/messages") == 1  # found, not made again
    assert row.attempts == 2


def test_a_worker_dead_after_the_create_sends_the_draft_it_made(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    key = session.get(Delivery, delivery_id).key
    died_holding_it(session, delivery_id, frozen_clock)
    dead_workers_create(graph, mailbox, key)
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)
    assert posts(sandbox, "/messages") == 1


def test_a_create_that_never_arrived_is_made_once(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    sandbox.faults.fail_next(1, "timeout", "/messages")  # no answer, not applied
    assert attempt(session, graph, delivery_id, frozen_clock) == "retrying"
    assert session.get(Delivery, delivery_id).progress.get("ambiguous") is True
    assert sandbox.state.drafts() == []
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)


@pytest.mark.parametrize("fault", ["lost_response", "timeout"])
def test_a_lost_answer_to_the_send_is_not_sent_again(
        app, session, sandbox, graph, mailbox, frozen_clock, fault):
    """lost_response: the send was applied; timeout: it was not. Either way, once."""
    delivery_id = add_mail(session, mailbox)
    sandbox.faults.fail_next(1, fault, "/send")
    assert attempt(session, graph, delivery_id, frozen_clock) == "retrying"
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    row = assert_sent_once_and_no_draft(sandbox, session, delivery_id)
    assert bool(row.result.get("found_earlier")) is (fault == "lost_response")
    assert posts(sandbox, "/messages") == 1


def test_a_worker_dead_after_the_send_does_not_send_again(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    sandbox.faults.fail_next(1, "lost_response", "/send")
    attempt(session, graph, delivery_id, frozen_clock)
    died_holding_it(session, delivery_id, frozen_clock)
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)


def test_copies_an_earlier_release_left_are_deleted(
        app, session, sandbox, graph, mailbox, frozen_clock):
    """Before drafts were looked for, each lost create left one more copy."""
    delivery_id = add_mail(session, mailbox)
    died_holding_it(session, delivery_id, frozen_clock)
    for _ in range(3):
        dead_workers_create(graph, mailbox, session.get(Delivery, delivery_id).key)
    assert len(sandbox.state.drafts()) == 3
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)


def test_lost_answers_on_every_step_still_send_once(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    sandbox.faults.fail_next(1, "lost_response", "/messages")
    sandbox.faults.fail_next(1, "lost_response", "mailFolders/drafts")
    sandbox.faults.fail_next(1, "lost_response", "/send")
    outcomes = [attempt(session, graph, delivery_id, frozen_clock) for _ in range(3)]
    # A read that loses its answer is read again within the attempt (graph/client.py).
    assert outcomes == ["retrying", "retrying", "delivered"]
    assert sandbox.faults.pending == 0 and sandbox.faults.injected == {"lost_response": 3}
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)
    assert posts(sandbox, "/messages") == 1


# ---- giving up deletes the draft -----------------------------------------------------------


def test_a_refused_send_deletes_its_draft(app, session, sandbox, graph, mailbox, frozen_clock):
    """Outlook saves a draft with no recipients but will not send it."""
    delivery_id = add_mail(session, mailbox, to=())
    row = session.get(Delivery, delivery_id)
    row.payload = {**row.payload, "bcc": []}
    session.commit()
    assert attempt(session, graph, delivery_id, frozen_clock) == "failed"
    row = session.get(Delivery, delivery_id)
    assert "ErrorInvalidRecipients" in row.last_error
    assert row.progress.get("draft_id") is None
    assert sandbox.state.drafts() == [] and sandbox.state.mails() == []


def test_the_last_attempt_deletes_its_draft_and_a_retry_sends_once(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    row = session.get(Delivery, delivery_id)
    row.attempts = runner.MAX_ATTEMPTS - 1
    session.commit()
    sandbox.faults.fail_next(1, "503", "/send")
    assert attempt(session, graph, delivery_id, frozen_clock) == "failed"
    assert sandbox.state.drafts() == [] and sandbox.state.mails() == []
    assert session.get(Delivery, delivery_id).progress.get("draft_id") is None
    outbox.retry(session, session.get(Delivery, delivery_id))  # a person's retry button
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    assert_sent_once_and_no_draft(sandbox, session, delivery_id)


def test_a_last_attempt_whose_create_was_lost_deletes_that_draft(
        app, session, sandbox, graph, mailbox, frozen_clock):
    delivery_id = add_mail(session, mailbox)
    row = session.get(Delivery, delivery_id)
    row.attempts = runner.MAX_ATTEMPTS - 1
    session.commit()
    sandbox.faults.fail_next(1, "lost_response", "/messages")
    assert attempt(session, graph, delivery_id, frozen_clock) == "failed"
    assert sandbox.state.drafts() == [] and sandbox.state.mails() == []


def test_a_lost_send_on_the_last_attempt_keeps_the_id_so_a_retry_knows_it_went(
        app, session, sandbox, graph, mailbox, frozen_clock):
    """The draft is gone because it was sent: nothing to delete, and a retry must not
    send it again."""
    delivery_id = add_mail(session, mailbox)
    row = session.get(Delivery, delivery_id)
    row.attempts = runner.MAX_ATTEMPTS - 1
    session.commit()
    sandbox.faults.fail_next(1, "lost_response", "/send")
    assert attempt(session, graph, delivery_id, frozen_clock) == "failed"
    assert session.get(Delivery, delivery_id).progress.get("draft_id")
    outbox.retry(session, session.get(Delivery, delivery_id))
    assert attempt(session, graph, delivery_id, frozen_clock) == "delivered"
    row = assert_sent_once_and_no_draft(sandbox, session, delivery_id)
    assert row.result["found_earlier"] is True


# ---- a real worker process, SIGKILLed mid-call -------------------------------------------


class AnswerLate(SandboxApp):
    """The sandbox, except that a request whose path ends with `hold` is applied and
    its answer held back: the worker is between the Graph call and its bookkeeping."""

    hold = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def _respond(self, request, *args):
        response = super()._respond(request, *args)
        if self.hold and request.method == "POST" and request.path.endswith(self.hold):
            self.release.wait(DEADLINE)
        return response


WORKER = "import sys\nfrom app.jobs import deliver\nprint(deliver(int(sys.argv[1])))\n"


def worker_env(database_url: str, graph_base_url: str, instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "ENTRA_", "M365_", "GRAPH_"))}
    env.update(DATABASE_URL=database_url, GRAPH_BASE_URL=graph_base_url,
               M365_TEAM_ID="incident-team", SECRET_KEY="test-secret-key-not-for-production",
               INCIDENT_DESK_INSTANCE=str(instance), BACKGROUND_SWEEP="false",
               APP_BASE_URL="http://incident-desk.test", PYTHONPATH=str(ROOT))
    return env


@pytest.mark.parametrize("hold", ["/messages", "/send"])
@pytest.mark.slow
def test_a_worker_killed_mid_call_leaves_one_sent_message_and_no_draft(
        app, session, migrated, monkeypatch, frozen_clock, tmp_path, hold):
    """SIGKILL lands while Outlook has saved (or sent) the draft but the worker has not
    heard back; after the lease runs out the next attempt sends it exactly once."""
    frozen_clock.value = datetime.now(UTC) - timedelta(seconds=1)  # the worker's real clock
    monkeypatch.setattr("graph.sandbox.server.SandboxApp", AnswerLate)
    monkeypatch.setattr(AnswerLate, "hold", hold)
    with SandboxServer(state=SandboxState(clock=frozen_clock)) as server:
        sandbox_tenant(server.state, ADA)
        delivery_id = add_mail(session, SHARED_MAILBOX)
        session.remove()  # no transaction open while the worker writes
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WORKER, str(delivery_id)], cwd=ROOT, text=True,
            env=worker_env(migrated, server.graph_base_url, tmp_path),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        applied = (lambda: server.state.drafts()) if hold == "/messages" else \
            (lambda: server.state.mails())
        try:
            deadline = time.monotonic() + DEADLINE
            while not applied():
                if worker.poll() is not None:
                    pytest.fail(f"the worker exited first: {worker.communicate()[1][-3000:]}")
                assert time.monotonic() < deadline, "the worker's call never reached Outlook"
                time.sleep(0.05)
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=DEADLINE)
            server.app.release.set()
        assert worker.returncode == -signal.SIGKILL
        row = session.get(Delivery, delivery_id)
        assert row.status == "sending"

        frozen_clock.advance(seconds=(runner.LEASE + timedelta(minutes=1)).total_seconds())
        graph = GraphClient(server.graph_base_url, sandbox_app_token(server.graph_base_url),
                            timeout=5)
        assert runner.deliver(session, delivery_id, graph_for=lambda _d: graph,
                              handlers=HANDLERS) == "delivered"
        session.expire_all()
        assert_sent_once_and_no_draft(server, session, delivery_id)
        assert posts(server, "/messages") == 1 and posts(server, "/send") == 1 + (
            hold == "/send")


# ---- a worker that lost its claim leaves the draft to the one that has it ----------------


def test_a_worker_that_lost_its_claim_does_not_delete_the_draft():
    """Its last attempt fails while another worker, which took the claim over, may be
    sending that very draft: deleting it would make that worker's send answer 404 and
    record an email as sent that nobody got."""
    from app.m365.send_mail import SendMail
    from app.outbox.lease import LeaseLost
    from graph.fake import FakeGraph
    from graph.port import GraphError

    class Outage(FakeGraph):
        def send_draft(self, sender, draft_id):
            raise GraphError("Service unavailable", status=503)

    graph = Outage(actor=ADA)
    delivery = Delivery(key="INC-2026-0001/mail/1", kind="mail.send", progress={},
                        attempts=runner.MAX_ATTEMPTS,
                        payload={"subject": "Update", "html": "<p>x</p>", "to": ["a@x.org"]})
    saved: list[dict] = []

    def checkpoint(**progress):
        if saved:  # the claim was lost after the draft was checkpointed
            raise LeaseLost("another worker holds it now")
        saved.append(progress)
        delivery.progress = {**delivery.progress, **progress}

    with pytest.raises(LeaseLost):
        SendMail().send(graph, runner.Attempt(delivery, False, checkpoint))
    assert [d["id"] for d in graph.drafts()] == [saved[0]["draft_id"]]
