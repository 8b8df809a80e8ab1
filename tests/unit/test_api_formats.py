"""api.pagination cursors and api.formats CSV cells, without a server."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from api.formats import csv_cell
from api.pagination import decode_cursor, encode_cursor, next_cursor


@given(st.one_of(st.integers(), st.text(max_size=64)))
def test_a_cursor_round_trips(after):
    assert decode_cursor(encode_cursor(after), type(after)) == after


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", encode_cursor("L1")])
def test_a_damaged_or_foreign_cursor_is_a_400(cursor):
    with pytest.raises(HTTPException) as raised:
        decode_cursor(cursor, int)
    assert raised.value.status_code == 400


def test_the_next_cursor_appears_only_when_a_row_is_left():
    assert next_cursor([1, 2, 3], 3) is None
    assert decode_cursor(next_cursor([1, 2, 3, 4], 3), int) == 3


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (True, "true"), (3, "3"), (0.5, "0.5"), ("plain", "plain"),
    ('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ("+1", "'+1"), ("-1", "'-1"), ("@SUM", "'@SUM"),
])
def test_csv_cells_defuse_formulas(value, cell):
    assert csv_cell(value) == cell
