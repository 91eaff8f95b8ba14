"""The bulletin as PDF: the HTML page laid out by WeasyPrint, the CJK font embedded.

WeasyPrint subsets and embeds the OpenType (CFF) Noto CJK faces of Debian's
fonts-noto-cjk, so the PDF reads the same on a machine without them and its text can
be extracted (pdftotext) and searched.
"""

from __future__ import annotations

import logging

from weasyprint import HTML

# WeasyPrint reports unsupported CSS on its own loggers; a bulletin is not a web page.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def render(page: str) -> bytes:
    document = HTML(string=page).write_pdf()
    assert document is not None
    return bytes(document)
