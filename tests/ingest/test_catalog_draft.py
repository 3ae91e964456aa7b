"""A catalog drafted from a folder of real wordings: names as printed, filings grouped, aliases, a report."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from ingest.catalog import parse_catalog
from ingest.catalog_draft import aliases_for, draft_catalog
from tests.conftest import ROOT

LIAN = ROOT.parent / "shared" / "corpus" / "insurer-lian"
FILES = ["clauses/113012_tk.md", "clauses/113013_tk.md", "clauses/115004_history_version1_tk.md",
         "clauses/115004_history_version2_tk.md", "clauses/115004_tk.md", "clauses/115036_history_version1_tk.md",
         "clauses/115036_tk.md", "manuals/115036_sms.md", "clauses/614001_tk.md"]


def test_a_folder_of_real_wordings_drafts_one_row_per_product(tmp_path: Path) -> None:
    folder = tmp_path / "lian"
    for name in FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LIAN / name, folder / name)
    draft = draft_catalog(folder, "LA")
    rows = {r["product_id"]: r for r in draft.rows}
    assert set(rows) == {"LA-113012", "LA-113013", "LA-115004", "LA-115036", "LA-614001"}
    fu = rows["LA-115036"]
    assert (fu["name"], fu["insurer"], fu["category"]) == ("利安福重大疾病保险", "利安人寿保险股份有限公司", "重大疾病保险")
    assert "利安福重疾" in fu["aliases"].split("|")  # the short name the wording gives itself
    # the manual belongs to the product; the wording's filings come first, oldest first
    assert fu["documents"].split("|")[-1] == "manuals/115036_sms.md"
    rider = rows["LA-115004"]
    assert rider["documents"].split("|")[:3] == [
        "clauses/115004_history_version1_tk.md", "clauses/115004_history_version2_tk.md", "clauses/115004_tk.md"]
    assert rider["filings"].split("|") == ["利安人寿[2011]医疗保险038号", "利安人寿[2018]医疗保险054号", "利安人寿[2021]医疗保险011号"]
    # siblings keep their variant in every alias: no alias fits both
    a, b = set(rows["LA-113012"]["aliases"].split("|")), set(rows["LA-113013"]["aliases"].split("|"))
    assert "颐享年年典藏版" in a and "颐享年年臻享版" in b and not a & b
    assert "保驾百万" in rows["LA-614001"]["aliases"].split("|")  # a rider is also named without 附加
    assert any("identical" in line and "115036" in line for line in draft.report)
    assert any(line.startswith("status:") for line in draft.report)
    # what it drafts imports as it is
    out = tmp_path / "lian" / "catalog.csv"
    out.write_text(draft.csv(), encoding="utf-8")
    parsed = parse_catalog(out, set())
    assert parsed.errors == [] and len(parsed.rows) == 5
    assert all(d.is_file() for row in parsed.rows for d in row.documents)
    assert list(csv.DictReader(io.StringIO(draft.csv())))[0].keys() >= {"code", "filings"}


def test_aliases_drop_the_brand_only_where_a_name_remains() -> None:
    insurer = "利安人寿保险股份有限公司"
    assert "金满堂两全险" in aliases_for("利安金满堂两全保险", None, insurer)
    fu = aliases_for("利安福重大疾病保险", None, insurer)
    assert "福重大疾病保险" not in fu and "利安福重疾" in fu
    generic = aliases_for("附加个人意外伤害医疗保险", None, insurer)
    assert "个人意外伤害" not in generic  # a description is no name
