"""Escaped HTML for email bodies, shared by every kind of mail (updates, notices): user
text becomes paragraphs, each line and block kept, nothing in it interpreted."""

from __future__ import annotations

from markupsafe import Markup, escape


def paragraphs(text: str) -> Markup:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("").join(
        Markup('<p style="margin:0 0 12px">{}</p>').format(
            Markup("<br>").join(escape(line) for line in block.split("\n")))
        for block in blocks
    )
