"""The styles generated content uses, and the built-in look.

Generated content only ever names styles (Title, Subtitle, Heading 1/2, List Bullet and
three of our own), so an organisation's template restyles everything by defining them.
`ensure_styles` adds whichever a template lacks (Word keeps unused built-in styles only
as "latent", and python-docx cannot use a latent style); `apply_house_style` gives the
built-in template a plain, professional look (A4, Arial, navy headings).
"""

from __future__ import annotations

from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt, RGBColor

TABLE = "Incident Desk Table"
TABLE_TEXT = "Incident Desk Table Text"
NOTICE = "Incident Desk Notice"

NAVY = RGBColor(0x1F, 0x3A, 0x5F)
GREY = RGBColor(0x5A, 0x5F, 0x66)
FONT = "Arial"  # LibreOffice substitutes the metric-compatible Liberation Sans

_TABLE_XML = f"""
<w:style {nsdecls("w")} w:type="table" w:customStyle="1" w:styleId="IncidentDeskTable">
  <w:name w:val="{TABLE}"/>
  <w:basedOn w:val="TableNormal"/>
  <w:uiPriority w:val="59"/>
  <w:pPr><w:spacing w:before="0" w:after="0" w:line="240" w:lineRule="auto"/></w:pPr>
  <w:tblPr>
    <w:tblStyleRowBandSize w:val="1"/>
    <w:tblBorders>
      <w:top w:val="single" w:sz="4" w:space="0" w:color="C8CDD4"/>
      <w:bottom w:val="single" w:sz="4" w:space="0" w:color="C8CDD4"/>
      <w:insideH w:val="single" w:sz="4" w:space="0" w:color="C8CDD4"/>
    </w:tblBorders>
    <w:tblCellMar>
      <w:top w:w="57" w:type="dxa"/><w:left w:w="85" w:type="dxa"/>
      <w:bottom w:w="57" w:type="dxa"/><w:right w:w="85" w:type="dxa"/>
    </w:tblCellMar>
  </w:tblPr>
  <w:tblStylePr w:type="firstRow">
    <w:rPr><w:b/><w:bCs/><w:color w:val="FFFFFF"/></w:rPr>
    <w:tcPr><w:shd w:val="clear" w:color="auto" w:fill="1F3A5F"/></w:tcPr>
  </w:tblStylePr>
  <w:tblStylePr w:type="firstCol">
    <w:rPr><w:b/><w:bCs/></w:rPr>
    <w:tcPr><w:shd w:val="clear" w:color="auto" w:fill="EEF1F5"/></w:tcPr>
  </w:tblStylePr>
  <w:tblStylePr w:type="band2Horz">
    <w:tcPr><w:shd w:val="clear" w:color="auto" w:fill="F6F7F9"/></w:tcPr>
  </w:tblStylePr>
</w:style>
"""

_NOTICE_PPR = f"""
<w:pPr {nsdecls("w")}>
  <w:keepNext/>
  <w:pBdr><w:left w:val="single" w:sz="24" w:space="8" w:color="B3261E"/></w:pBdr>
  <w:shd w:val="clear" w:color="auto" w:fill="FBEAEA"/>
  <w:spacing w:before="120" w:after="200"/>
  <w:ind w:left="170" w:right="113"/>
</w:pPr>
"""


def ensure_styles(doc: Document) -> None:
    """Add the styles generated content needs but the template does not define."""
    styles = doc.styles
    names = {s.name for s in styles}
    if TABLE not in names:
        styles.element.append(parse_xml(_TABLE_XML))
    for name, base, size, bold in (
        ("Title", "Normal", 24, True),
        ("Subtitle", "Normal", 13, False),
        ("Heading 1", "Normal", 15, True),
        ("Heading 2", "Normal", 12, True),
        ("List Bullet", "Normal", None, False),
    ):
        if name not in names:
            style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
            style.base_style = styles[base]
            style.font.bold = bold
            if size:
                style.font.size = Pt(size)
            if name.startswith("Heading"):
                style.paragraph_format.keep_with_next = True
                style.paragraph_format.space_before = Pt(14)
                level = int(name[-1]) - 1
                outline = parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="{level}"/>')
                style.element.get_or_add_pPr().append(outline)
    if TABLE_TEXT not in names:
        style = styles.add_style(TABLE_TEXT, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        style.font.size = Pt(9)
        fmt = style.paragraph_format
        fmt.space_before = fmt.space_after = Pt(0)
        fmt.line_spacing = 1.0
    if NOTICE not in names:
        style = styles.add_style(NOTICE, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        style.font.bold = True
        style.font.color.rgb = RGBColor(0x8C, 0x1D, 0x18)
        ppr = style.element.get_or_add_pPr()
        for child in parse_xml(_NOTICE_PPR):
            ppr.append(child)


def _font(style, name: str, size: float | None = None, *, bold: bool | None = None,
          color: RGBColor | None = None, italic: bool | None = None) -> None:
    """Set a style's font, dropping theme-font links that would override the name."""
    style.font.name = name
    rfonts = style.element.rPr.find(qn("w:rFonts"))
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        rfonts.attrib.pop(qn(f"w:{attr}"), None)
    rfonts.set(qn("w:cs"), name)
    if size is not None:
        style.font.size = Pt(size)
    if bold is not None:
        style.font.bold = bold
    if italic is not None:
        style.font.italic = italic
    if color is not None:
        style.font.color.rgb = color
        style.element.rPr.find(qn("w:color")).attrib.pop(qn("w:themeColor"), None)


def apply_house_style(doc: Document) -> None:
    """The built-in look: A4, 2 cm margins, Arial, navy headings, quiet header/footer."""
    for section in doc.sections:
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.left_margin = section.right_margin = Cm(2)
        section.top_margin, section.bottom_margin = Cm(2.2), Cm(2)
        section.header_distance = section.footer_distance = Cm(1)
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rfonts = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:rFonts')}")
    if rfonts is not None:
        for attr in list(rfonts.attrib):
            del rfonts.attrib[attr]
        for attr in ("ascii", "hAnsi", "cs", "eastAsia"):
            rfonts.set(qn(f"w:{attr}"), FONT)
    styles = doc.styles
    # No colour on Normal: it would beat the table style's white header text.
    _font(styles["Normal"], FONT, 10)
    normal = styles["Normal"].paragraph_format
    normal.space_after, normal.line_spacing = Pt(6), 1.15
    title = styles["Title"]
    _font(title, FONT, 24, bold=True, color=NAVY)
    ppr = title.element.pPr
    border = ppr.find(qn("w:pBdr")) if ppr is not None else None
    if border is not None:
        ppr.remove(border)
    title.paragraph_format.space_after = Pt(2)
    _font(styles["Subtitle"], FONT, 13, color=GREY, italic=False)
    for spacing in styles["Subtitle"].element.rPr.findall(qn("w:spacing")):
        spacing.getparent().remove(spacing)  # the stock Subtitle is letter-spaced
    styles["Subtitle"].paragraph_format.space_after = Pt(12)
    for level, size, before in ((1, 15, 18), (2, 12, 12)):
        heading = styles[f"Heading {level}"]
        _font(heading, FONT, size, bold=True, color=NAVY)
        heading.paragraph_format.space_before = Pt(before)
        heading.paragraph_format.space_after = Pt(6)
    for name in ("Header", "Footer"):
        _font(styles[name], FONT, 8, color=GREY)
        styles[name].paragraph_format.tab_stops.clear_all()
    ensure_styles(doc)
