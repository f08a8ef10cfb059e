"""Stakeholder email to 1,000 recipients: Graph calls made against the fewest possible.

Declares a P2 through the page, then posts one status update from the update page to
1,000 addresses ("Also email"; not to the Teams channel), with the SandboxServer adding
latency to each Graph call. Counts, from the sandbox's request log, the calls the email
took, and reads back what the sandbox sent: every address exactly once.

The minimum, worked out honestly:
- Exchange Online takes at most 500 recipients a message (To + Cc + Bcc), so 1,000 people
  need at least ceil(1000 / 500) = 2 messages.
- One-shot `sendMail` is 1 call a message: 2 calls. But a sendMail whose answer is lost
  cannot be told apart from one never sent, so a retry may mail everyone twice.
- Our sender makes a draft and then sends it (2 calls a message): a retry after a lost
  answer re-sends the same draft, which Graph refuses (404) if it went, so nobody is
  mailed twice. The floor for draft + send is 2 x 2 = 4 calls.
- Each of our messages also goes To the sender (a visible recipient; Bcc-only mail is
  spam-scored), so a batch holds 499 Bcc: ceil(1000 / 499) = 3 messages, 6 calls.

Also times the update POST (it validates 1,000 addresses) and POST-to-all-sent against
the critical path (the batches go in parallel: draft then send, 2 calls) and against
every call one after another.

Run: `.venv/bin/python bench/bench_mail.py [recipients] [latency_ms]` (1000, 100).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import SandboxedApp, Workdir, csrf, declare, ms

MAX_PER_MESSAGE = 500  # graph.port.MAX_MAIL_RECIPIENTS: Exchange Online's limit
SENDER = "ada@example.com"


def classify(entry: dict) -> str:
    path = unquote(entry["path"].split("?", 1)[0])
    if entry["method"] == "POST" and path.endswith("/sendMail"):
        return "sendMail"
    if entry["method"] == "POST" and path.endswith("/send") and "/messages/" in path:
        return "send draft"
    if entry["method"] == "POST" and path.endswith("/messages") and "/channels/" not in path:
        return "create draft"
    return "other"


def main() -> None:
    recipients = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    latency = (float(sys.argv[2]) if len(sys.argv) > 2 else 100.0) / 1000
    addresses = [f"stakeholder{n:05d}@example.org" for n in range(recipients)]
    workdir = Workdir("bench-mail-")
    bench = SandboxedApp(workdir, redis_url=None)
    try:
        reference, _started, _post = declare(bench.client, "Payments slow", severity="P2")
        bench.wait_for_jobs()
        bench.settle()  # the declaration's own Graph work is done and out of the way

        bench.sandbox.faults.configure(latency=latency)
        mark = bench.clock.mark()
        url = f"/incidents/{reference}/updates/new"
        token = csrf(bench.client.get(url).get_data(as_text=True))
        form = {"csrf_token": token, "phase": "investigating",
                "message": "Card payments are slow; we are rolling back a release.",
                "extra_recipients": "\n".join(addresses)}  # to_channel left unticked
        started = time.perf_counter()
        response = bench.client.post(url, data=form)
        post = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"the update page answered {response.status_code}")
        bench.wait_for_jobs(120)
        entries = bench.clock.since(mark)
        bench.settle()  # drops the running report's debounced refresh (not email)
        bench.sandbox.faults.configure(latency=0.0)

        calls = Counter(classify(e) for _, e in entries)
        failed = [e for _, e in entries if e["status"] >= 300]
        sent_at = [stamp - started for stamp, e in entries if classify(e) == "send draft"]
        timeline = [(stamp - e["duration"] - started, stamp - started, classify(e), e["bytes"])
                    for stamp, e in entries if classify(e) != "other"]
        mails = bench.sandbox.state.mails()
        seen = Counter(a.lower() for m in mails for a in m["bcc"])
        if sorted(seen) != sorted(a.lower() for a in addresses) or set(seen.values()) != {1}:
            raise RuntimeError("the sandbox did not mail every address exactly once")
        if any(m["to"] != [SENDER] for m in mails):
            raise RuntimeError("a message did not go To the sender")
    finally:
        bench.close()
        workdir.close()

    messages = len(mails)
    ours = calls["create draft"] + calls["send draft"] + calls["sendMail"]
    floor_messages = math.ceil(recipients / MAX_PER_MESSAGE)
    with_sender = math.ceil(recipients / (MAX_PER_MESSAGE - 1))
    largest = max(len(m["bcc"]) + len(m["to"]) for m in mails)
    print(f"{recipients:,} recipients, Graph latency {ms(latency)} per call")
    print(f"sent: {messages} messages (largest {largest} recipients, sender in To), "
          f"{sum(seen.values()):,} Bcc addresses, each once; failed calls: {len(failed)}")
    print(f"Graph calls for the email: {ours} ({calls['create draft']} create draft + "
          f"{calls['send draft']} send); other calls: {calls['other']}\n")
    rows = [
        ("one-shot sendMail, 500 a message", floor_messages, floor_messages),
        ("draft + send, 500 a message", floor_messages, 2 * floor_messages),
        ("one-shot sendMail, 499 Bcc + sender", with_sender, with_sender),
        ("draft + send, 499 Bcc + sender (ours)", with_sender, 2 * with_sender),
    ]
    print(f"{'minimum for':<40} {'messages':>8} {'calls':>6} {'ours / minimum':>15}")
    for label, count, minimum in rows:
        print(f"{label:<40} {count:>8} {minimum:>6} {ours / minimum:>15.2f}")

    chain = 2 if calls["send draft"] else 1
    done = max(sent_at) if sent_at else float("nan")
    print(f"\nupdate POST (validates {recipients:,} addresses, writes "
          f"{messages} deliveries): {ms(post)}")
    print("calls, after the POST started (reached Graph -> answered, request body):")
    for arrived, answered, what, size in sorted(timeline):
        print(f"  {what:<13} {ms(arrived):>7} -> {ms(answered):>7}  {size:>7,} bytes")
    print(f"POST start to the last message sent: {ms(done)}; critical path {chain} calls x "
          f"{ms(latency)} = {ms(chain * latency)} (ratio {done / (chain * latency):.2f}); "
          f"all {ours} calls in sequence {ms(ours * latency)} "
          f"(ratio {done / (ours * latency):.2f})")


if __name__ == "__main__":
    main()
