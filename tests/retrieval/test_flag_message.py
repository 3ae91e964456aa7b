"""The flag's words: what happened, how recently, what to offer instead."""

from __future__ import annotations

from datetime import date

from retrieval.flags import flag_message


def test_a_flag_says_how_recent_the_change_is_and_names_the_successor() -> None:
    row = {"name": "瑞禾康宁终身重大疾病保险（2019版）", "product_id": "RH-CI-2019", "status": "discontinued",
           "discontinued_date": "2026-11-01", "successor_id": "RH-CI-2023", "successor_name": "瑞禾康宁终身重大疾病保险（2023版）"}
    text = flag_message(row, today=date(2026, 11, 4))
    assert "已于2026-11-01停售（3天前），不可再向客户推荐投保" in text
    assert "替代产品：瑞禾康宁终身重大疾病保险（2023版）（RH-CI-2023）" in text
    suspended = flag_message({**row, "status": "suspended", "discontinued_date": None, "successor_id": None}, today=date(2026, 11, 4))
    assert "已暂停销售，不可再向客户推荐投保；暂无替代产品" in suspended
