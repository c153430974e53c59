"""The LAO safety net's CRN scan (app/web/restricted.py) finds exactly what `\b[A-Z][0-9]{6}\b` finds."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.web.restricted import crns_in

REFERENCE = re.compile(rb"\b[A-Z][0-9]{6}\b")
# Bodies made of the pieces that matter: CRNs, near misses, word characters, markup and non-ASCII bytes.
PIECES = st.sampled_from([b"X123456", b"A000001", b"B12345", b"C1234567", b"a123456", b"_", b"Z", b"9", b"x",
                          b" ", b"<td>", b"</td>", b"-", b"/", b"\xc3\xa9", b"\n", b"\xff", b"1", b"D654321"])


@given(st.lists(PIECES, max_size=40).map(b"".join))
def test_the_scan_finds_what_the_regular_expression_finds(body: bytes) -> None:
    assert crns_in(body) == {m.decode() for m in REFERENCE.findall(body)}


def test_a_page_with_crns_in_cells_links_and_text() -> None:
    body = (b'<td>X123456</td><a href="/people/Y654321">Restricted</a> Z1111111 aB222222 C333333_ '
            b'D444444\xc3\xa9 E555555')
    assert crns_in(body) == {"X123456", "Y654321", "D444444", "E555555"}
