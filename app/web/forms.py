"""The base of every form: a field's declared limit shows before anyone submits.

A field with a Length(max=N) validator renders `maxlength` (a character count shows its
count instead) and its hint ends with the limit, so the 200-character title limit is on
the page, not only in the error after posting. Done at render time, in one place: a new
field or form gets it by declaring the validator.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCharacterCount


def limit_hint(description: str | None, limit: int) -> str:
    said = f"{limit:,} characters or fewer."
    if not description:
        return said.capitalize()
    return f"{description.rstrip()}{'' if description.rstrip()[-1:] in '.?!' else '.'} {said}"


class LimitedForm(FlaskForm):
    class Meta:
        def render_field(self, field, render_kw):
            limit = getattr(field.flags, "maxlength", None)
            if limit and limit > 0:
                render_kw = dict(render_kw)
                params = dict(render_kw.get("params") or {})
                if isinstance(field.widget, GovCharacterCount):
                    params.setdefault("maxlength", limit)  # it says so, and counts
                else:
                    render_kw.setdefault("maxlength", limit)
                    if "hint" not in params:
                        params["hint"] = {"text": limit_hint(field.description, limit)}
                render_kw["params"] = params
            return super().render_field(field, render_kw)
