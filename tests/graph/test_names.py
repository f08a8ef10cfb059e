"""Channel names: legal for Teams whatever the title's script, carrying the incident
reference, and unique under `taken`."""

from __future__ import annotations

import random
import unicodedata
from datetime import date

import pytest

from graph.names import channel_name, channel_name_problem, length, slug
from graph.port import ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME
from graph.sandbox.routes_teams import name_problem as sandbox_name_problem

DAY = date(2026, 11, 22)
REF = "INC-2026-0042"
BASE = "inc-0042-2026-11-22"
# Ranges random titles are drawn from: ASCII, Latin accents, Greek, Cyrillic, CJK,
# Devanagari (vowel signs are marks), emoji and their joiners, and the characters Teams
# forbids or treats specially.
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 -_.",
    "".join(sorted(ILLEGAL_CHANNEL_CHARACTERS)) + "  \t\n\r\x00\u200b\u202e\u00ad",
    "éèêëàâäôöûüçñÅåØøßæœÆŒłŁđþðİ\u0301\u0308",
    "αβγδεζηθΣΟΔ ЖЗИЙ кириллица",
    "日本語の件名 事故 服务中断 \uff21\uff22\uff23\uff11\uff12\uff13 ﬁ \uff03\uff05",
    "हिन्दी सेवा बंद",
    "🔥💥🚨 \U0001f600\u200d\ufe0f\u20e3\U0001f1ec\U0001f1e7 𠀀\U0001d400",
]


def random_title(rng: random.Random) -> str:
    length = rng.randint(0, 120)
    return "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length))


def name(title: str, taken=None, day: date = DAY, reference: str = REF) -> str:
    return channel_name(day, title, taken, reference=reference)


def assert_legal(channel: str) -> None:
    assert channel_name_problem(channel) is None, channel
    assert length(channel) <= MAX_CHANNEL_NAME, channel
    assert channel == channel.lower() and channel == unicodedata.normalize("NFKC", channel)
    assert channel.startswith(BASE), channel
    for word in channel.split("-"):
        assert word and unicodedata.category(word[0])[0] in "LN", channel
        assert all(unicodedata.category(c)[0] in "LNM" for c in word), channel


def test_ascii_titles():
    assert name("example.com errors") == f"{BASE}-example-com-errors"
    assert slug("--Hello,  World--") == "hello-world"


def test_titles_in_any_script_keep_their_letters():
    assert name("Ошибки оплаты") == f"{BASE}-ошибки-оплаты"
    assert name("支付服务中断!") == f"{BASE}-支付服务中断"
    assert name("Café: 50% down!") == f"{BASE}-café-50-down"
    assert name("Straße & Øresund") == f"{BASE}-straße-øresund"
    assert name("ΟΔΟΣ κλειστή") == f"{BASE}-οδος-κλειστή"
    assert name("हिन्दी सेवा बंद") == f"{BASE}-हिन्दी-सेवा-बंद"  # vowel signs stay


def test_nfkc_emoji_symbols_and_controls():
    # Fullwidth letters and space, a ligature, a circled digit.
    assert name("\uff21\uff22\uff23\u3000ﬁle ①") == f"{BASE}-abc-file-1"
    assert name("Cafe\u0301") == name("Café")  # combining accent composed
    assert name("🔥 Login 🚨 down 👩\u200d💻") == f"{BASE}-login-down"
    assert name("pay\u00adments\u202e\x00 ok") == f"{BASE}-payments-ok"
    # A keycap emoji; fullwidth # % < > become the illegal ASCII ones under NFKC: dropped.
    assert name("\uff11\ufe0f\u20e3 \uff03 \uff05 \uff1cx\uff1e") == f"{BASE}-1-x"
    assert name("\u0301\u0308 mark first") == f"{BASE}-mark-first"


def test_a_title_with_no_letters_is_still_named_by_reference_and_date():
    assert name("日本語 🔥") == f"{BASE}-日本語"
    assert name("🔥💥🚨") == BASE
    assert name("   ") == BASE
    assert name("???", {BASE}.__contains__) == f"{BASE}-2"


def test_the_reference_keeps_its_year_when_the_date_is_in_another():
    assert name("x", day=date(2027, 1, 1), reference="INC-2026-0999") == \
        "inc-2026-0999-2027-01-01-x"
    assert name("x", reference="INC-2026-12345") == "inc-12345-2026-11-22-x"
    assert name("x", reference="Odd/Ref #7") == "odd-ref-7-2026-11-22-x"
    assert name("x", reference="") == "inc-2026-11-22-x"
    assert name("x", reference="r" * 80) == "r" * 20 + "-2026-11-22-x"


def test_long_titles_are_cut_on_a_word_boundary():
    channel = name("payments are failing for every customer in every region today")
    assert channel == f"{BASE}-payments-are-failing-for-every"
    assert len(channel) == MAX_CHANNEL_NAME
    # A single word too long for the room is cut, never dropped altogether.
    assert name("x" * 80) == f"{BASE}-" + "x" * 30
    assert name("оплата" * 10) == f"{BASE}-" + ("оплата" * 5)


def test_a_word_ending_exactly_at_the_limit_is_kept():
    title = "a" * 25 + " bcd efg"  # "aaa…a-bcd" is exactly the 30 characters of room
    assert name(title) == f"{BASE}-" + "a" * 25 + "-bcd"


def test_length_is_counted_as_teams_counts_it():
    # Characters outside the Basic Multilingual Plane are two UTF-16 units each.
    channel = name("𠀀" * 40)
    assert channel == f"{BASE}-" + "𠀀" * 15 and length(channel) == MAX_CHANNEL_NAME


def test_a_cut_never_parts_a_letter_from_its_marks():
    channel = name("क" + "कि" * 40)  # ka, then ka + vowel sign i, over and over
    assert length(channel) <= MAX_CHANNEL_NAME
    assert unicodedata.category(channel[-1]) == "Mc" and channel.endswith("कि")


def test_taken_names_get_numbered_suffixes_within_the_limit():
    used = {f"{BASE}-login-broken", f"{BASE}-login-broken-2"}
    assert name("Login broken", used.__contains__) == f"{BASE}-login-broken-3"
    long_title = "checkout is failing for customers paying by card"
    first = name(long_title)
    second = name(long_title, {first}.__contains__)
    assert second == f"{BASE}-checkout-is-failing-for-2"
    assert len(first) <= MAX_CHANNEL_NAME and len(second) <= MAX_CHANNEL_NAME


def test_no_free_name_is_an_error():
    with pytest.raises(ValueError):
        name("busy", lambda channel: True)


@pytest.mark.parametrize("seed", range(5))
def test_random_unicode_titles_always_give_legal_names(seed):
    rng = random.Random(seed)
    for _ in range(400):
        assert_legal(name(random_title(rng)))


@pytest.mark.parametrize("seed", range(3))
def test_random_titles_stay_unique_under_taken(seed):
    rng = random.Random(1000 + seed)
    titles = [random_title(rng) for _ in range(40)]
    titles += [titles[0]] * 30 + ["same title"] * 30  # many clashes on purpose
    used: set[str] = set()
    for title in titles:
        channel = name(title, lambda n: n.lower() in used)
        assert_legal(channel)
        assert channel.lower() not in used
        used.add(channel.lower())


def test_every_name_passes_the_sandbox_check():
    rng = random.Random(7)
    for _ in range(200):
        assert sandbox_name_problem(name(random_title(rng))) is None


def test_what_teams_refuses():
    assert channel_name_problem("fine name") is None
    for bad in ("", "   ", "a" * 51, "what?", "a/b", "50%", "_hidden", ".dot", "ends.",
                'say "hi"', "it's"):
        assert channel_name_problem(bad), bad
