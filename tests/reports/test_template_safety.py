"""A template is checked part by part before anything opens it (reports/template_safety.py):
sizes from the zip's directory and counted while reading, no DTDs, and nothing a report
template has no business carrying."""

from __future__ import annotations

import tracemalloc
import zipfile
from io import BytesIO

import pytest
from lxml import etree

from reports import TemplateError, build_running
from reports.template_safety import Limits, make_safe
from tests.reports import crafted, sample
from tests.reports.docs import open_report, text_of

MB = 1 << 20


def test_a_plain_template_keeps_every_part():
    content = crafted.plain()
    safe = make_safe(content)
    assert set(crafted.parts_of(safe)) == set(crafted.parts_of(content))
    assert "Contoso letterhead" in text_of(open_report(safe).element)


def test_a_part_bigger_than_the_bound_is_refused_from_the_zip_directory():
    bomb = crafted.bomb(64 * MB)  # about 64 KB on disk
    assert len(bomb) < MB
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match="too large when unpacked"):
            make_safe(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB  # refused from the sizes it declares, not by inflating it


def test_a_part_that_packs_too_tightly_is_refused():
    with pytest.raises(TemplateError, match="compressed"):
        make_safe(crafted.bomb(4 * MB))  # 4 MB of zeros in a few kilobytes


def test_the_total_and_the_number_of_parts_are_bounded():
    parts = crafted.parts_of(crafted.plain())
    many = crafted.rezip({**parts, **{f"word/media/i{i}.png": b"x" for i in range(40)}})
    with pytest.raises(TemplateError, match="too many parts"):
        make_safe(many, Limits(parts=30))
    with pytest.raises(TemplateError, match="too large when unpacked"):
        make_safe(crafted.plain(), Limits(total=10_000))


def test_reading_stops_at_the_bound_even_when_the_directory_lies(monkeypatch):
    """Counting while reading: a part that inflates past what its header said is not read
    to the end."""
    content = crafted.plain()
    real_open = zipfile.ZipFile.open
    read: list[int] = []

    class Endless:
        def __init__(self, stream):
            self.stream = stream

        def read(self, n=-1):
            read.append(n)
            return b"<" * n  # never ends

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

    def lying_open(self, name, *args, **kwargs):
        stream = real_open(self, name, *args, **kwargs)
        return Endless(stream) if str(getattr(name, "filename", name)).endswith(
            "document.xml") else stream

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    with pytest.raises(TemplateError, match="too large when unpacked"):
        make_safe(content)
    assert sum(read) <= Limits().part + 2 * 64 * 1024


@pytest.mark.parametrize("evil", [crafted.xxe, crafted.billion_laughs])
def test_a_document_type_declaration_is_refused(evil):
    with pytest.raises(TemplateError, match="DOCTYPE"):
        make_safe(evil())


def test_not_a_zip_or_broken_xml_is_a_template_error():
    with pytest.raises(TemplateError, match="could not be opened"):
        make_safe(b"PK\x03\x04 not really a zip")
    broken = crafted.with_parts({}, replace={"word/styles.xml": b"<w:styles"})
    with pytest.raises(TemplateError, match=r"word/styles\.xml"):
        make_safe(broken)


def test_macros_activex_embedded_objects_and_remote_templates_are_dropped():
    safe = make_safe(crafted.loaded())
    parts = crafted.parts_of(safe)
    assert not any(name.endswith(".bin") or "activeX" in name for name in parts)
    everything = b"".join(parts.values())
    assert crafted.REMOTE_TEMPLATE.encode() not in everything
    for ct in (crafted.VBA_CT, crafted.ACTIVEX_CT, crafted.OLE_CT):
        assert ct.encode() not in parts["[Content_Types].xml"]
    document = etree.fromstring(parts["word/document.xml"])
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    assert document.find(f".//{w}control") is None
    assert document.find(".//{urn:schemas-microsoft-com:office:office}OLEObject") is None
    settings = etree.fromstring(parts["word/settings.xml"])
    assert settings.find(f"{w}attachedTemplate") is None
    rels = parts["word/_rels/document.xml.rels"].decode()
    assert "https://contoso.example/" in rels  # a plain link stays
    # What is left opens, and a report builds from it.
    doc = open_report(build_running(sample.snapshot(), safe))
    assert "Contoso letterhead" in text_of(doc.element)


def test_making_safe_again_changes_nothing():
    once = make_safe(crafted.loaded())
    assert crafted.parts_of(make_safe(once)) == crafted.parts_of(once)


def test_the_builders_check_a_template_themselves():
    """A template stored before these checks still goes through them."""
    with pytest.raises(TemplateError, match="DOCTYPE"):
        build_running(sample.snapshot(), crafted.xxe())
    with pytest.raises(TemplateError, match="too large when unpacked"):
        build_running(sample.snapshot(), crafted.bomb(64 * MB))


def test_an_encrypted_or_oddly_compressed_part_is_refused():
    content = BytesIO(crafted.plain())
    with zipfile.ZipFile(content, "a") as zf:
        zf.writestr(zipfile.ZipInfo("word/media/x.png"), b"data")
    raw = bytearray(content.getvalue())
    # Mark every entry encrypted (general purpose bit 0), in both headers.
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := raw.find(sig, start)) != -1:
            raw[pos + flag_at] |= 1
            start = pos + 4
    with pytest.raises(TemplateError, match="could not be opened"):
        make_safe(bytes(raw))
