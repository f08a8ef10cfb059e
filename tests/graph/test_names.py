"""Channel names: legal for Teams whatever the title, and unique under `taken`."""

from __future__ import annotations

import random
import re
from datetime import date

import pytest

from graph.names import channel_name, channel_name_problem, slug
from graph.port import ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME

DAY = date(2026, 11, 22)
SHAPE = re.compile(r"^inc-2026-11-22-[a-z0-9]+(-[a-z0-9]+)*$")
# Ranges random titles are drawn from: ASCII, Latin accents, Greek, CJK, emoji, and the
# characters Teams forbids or treats specially.
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 -_.",
    "".join(sorted(ILLEGAL_CHANNEL_CHARACTERS)) + "  \t\n\r\x00\u200b\u202e",
    "éèêëàâäôöûüçñÅåØøßæœÆŒłŁđþð",
    "αβγδεζηθ ЖЗИЙ кириллица",
    "日本語の件名 事故 服务中断",
    "🔥💥🚨 \U0001f600",
]


def random_title(rng: random.Random) -> str:
    length = rng.randint(0, 120)
    return "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length))


def assert_legal(name: str) -> None:
    assert channel_name_problem(name) is None, name
    assert len(name) <= MAX_CHANNEL_NAME, name
    assert SHAPE.match(name), name
    assert not name.endswith(("-", ".")) and "--" not in name, name


def test_examples():
    assert channel_name(DAY, "example.com errors") == "inc-2026-11-22-example-com-errors"
    assert channel_name(DAY, "Café: 50% down!") == "inc-2026-11-22-cafe-50-down"
    assert channel_name(DAY, "Straße & Øresund") == "inc-2026-11-22-strasse-oresund"
    assert channel_name(DAY, "日本語 🔥") == "inc-2026-11-22-incident"
    assert channel_name(DAY, "   ") == "inc-2026-11-22-incident"
    assert slug("--Hello,  World--") == "hello-world"


def test_long_titles_are_cut_on_a_word_boundary():
    name = channel_name(DAY, "payments are failing for every customer in every region today")
    assert name == "inc-2026-11-22-payments-are-failing-for-every"
    assert len(name) <= MAX_CHANNEL_NAME
    # A single word too long for the room is cut, never dropped altogether.
    name = channel_name(DAY, "x" * 80)
    assert name == "inc-2026-11-22-" + "x" * 35


def test_a_word_ending_exactly_at_the_limit_is_kept():
    title = "a" * 30 + " bcd efg"  # "aaa…a-bcd" is exactly 34 of the 35 characters
    assert channel_name(DAY, title) == "inc-2026-11-22-" + "a" * 30 + "-bcd"


def test_taken_names_get_numbered_suffixes_within_the_limit():
    used = {"inc-2026-11-22-login-broken", "inc-2026-11-22-login-broken-2"}
    assert channel_name(DAY, "Login broken", used.__contains__) == \
        "inc-2026-11-22-login-broken-3"
    long_title = "checkout is failing for customers paying by card"
    first = channel_name(DAY, long_title)
    second = channel_name(DAY, long_title, {first}.__contains__)
    assert second.endswith("-2") and len(second) <= MAX_CHANNEL_NAME
    assert second == "inc-2026-11-22-checkout-is-failing-for-customers-2"


def test_no_free_name_is_an_error():
    with pytest.raises(ValueError):
        channel_name(DAY, "busy", lambda name: True)


@pytest.mark.parametrize("seed", range(5))
def test_random_unicode_titles_always_give_legal_names(seed):
    rng = random.Random(seed)
    for _ in range(400):
        assert_legal(channel_name(DAY, random_title(rng)))


@pytest.mark.parametrize("seed", range(3))
def test_random_titles_stay_unique_under_taken(seed):
    rng = random.Random(1000 + seed)
    titles = [random_title(rng) for _ in range(40)]
    titles += [titles[0]] * 30 + ["same title"] * 30  # many clashes on purpose
    used: set[str] = set()
    for title in titles:
        name = channel_name(DAY, title, lambda n: n.lower() in used)
        assert_legal(name)
        assert name.lower() not in used
        used.add(name.lower())


def test_what_teams_refuses():
    assert channel_name_problem("fine name") is None
    for bad in ("", "   ", "a" * 51, "what?", "a/b", "50%", "_hidden", ".dot", "ends.",
                'say "hi"', "it's"):
        assert channel_name_problem(bad), bad
