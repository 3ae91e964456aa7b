"""Catalog CSV validation: a bad row is named with its column; the others still import."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InputError
from ingest.catalog import COLUMNS, parse_catalog

HEADER = ",".join(COLUMNS)


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_good_rows_parse_with_aliases_and_documents(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "A-1,甲产品,甲保险公司,重大疾病保险,discontinued,2019-01-01,2023-06-30,A-2,甲|老甲,a.pdf|b.docx",
        "A-2,乙产品,甲保险公司,重大疾病保险,on_sale,2023-07-01,,,乙,",
    )
    parsed = parse_catalog(path, set())
    assert parsed.errors == []
    first = parsed.rows[0]
    assert first.aliases == ["甲", "老甲"] and [d.name for d in first.documents] == ["a.pdf", "b.docx"]
    assert first.replaced_by == "A-2" and parsed.rows[1].discontinued_date is None


@pytest.mark.parametrize(
    "row, column",
    [
        ("B-1,丙,丙公司,医疗保险,stopped,2020-01-01,,,,", "column status"),
        ("B-1,丙,丙公司,医疗保险,discontinued,2020-01-01,2022/12/31,,,", "column discontinued_date"),
        ("B-1,丙,丙公司,医疗保险,on_sale,20200101,,,,", "column effective_date"),
        ("B-1,丙,丙公司,医疗保险,discontinued,2020-01-01,2022-12-31,NOPE-9,,", "column replaced_by"),
        ("B-1,,丙公司,医疗保险,on_sale,2020-01-01,,,,", "column name"),
    ],
)
def test_bad_row_is_rejected_naming_row_and_column_others_kept(tmp_path: Path, row: str, column: str) -> None:
    path = _write(tmp_path, "OK-1,好产品,好公司,医疗保险,on_sale,2020-01-01,,,,", row)
    parsed = parse_catalog(path, set())
    assert [r.product_id for r in parsed.rows] == ["OK-1"]
    assert len(parsed.errors) == 1 and "row 3" in parsed.errors[0] and column in parsed.errors[0]


def test_missing_columns_reject_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("product_id,name\nA,甲\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        parse_catalog(path, set())
