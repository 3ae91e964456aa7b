"""Personal data is masked; look-alikes (policy numbers, dates, amounts) are not."""

from __future__ import annotations

import pytest

from domain.mask import find_pii, mask_pii


@pytest.mark.parametrize(
    "text, secret",
    [
        ("身份证号：330106198503124512", "330106198503124512"),
        ("身份证 11010519491231002X 已核验", "11010519491231002X"),
        ("老身份证110105491231002", "110105491231002"),
        ("手机13957124680", "13957124680"),
        ("电话 186 2135 7790", "186 2135 7790"),
        ("手机号码：+86 139 1021 5566", "139 1021 5566"),
        ("全角１３８１２３４５６７８", "１３８１２３４５６７８"),
        ("银行卡6222 0212 3456 7890 128", "6222 0212 3456 7890 128"),
        ("邮箱 zhang.san@example.com", "zhang.san@example.com"),
    ],
)
def test_personal_data_is_masked(text: str, secret: str) -> None:
    masked = mask_pii(text)
    assert secret not in masked
    assert "*" in masked
    assert find_pii(masked) == []


@pytest.mark.parametrize(
    "text",
    [
        "保单号P2023010500123456",
        "生效日期2023-06-30",
        "基本保险金额1,000,000元，实付1,996,140元",
        "国务院令第629号",
        "客服热线95500",
        "20230630",
        # chunk ids (UUID5) whose first or last groups happen to be Luhn-valid digits: a CI privacy
        # scan once flagged these very shapes as bank cards
        "chunk 48713276-9812-5130-a219-2821351218ff",
        "chunk 0a13f276-9812-513c-8219-282135121808",
        "48713276-9812-5130-8219-282135121808",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert mask_pii(text) == text
    assert find_pii(text) == []


def test_a_card_next_to_an_id_is_still_masked() -> None:
    text = "文档 48713276-9812-5130-a219-2821351218ff 银行卡6222 0212 3456 7890 128"
    masked = mask_pii(text)
    assert "48713276-9812-5130-a219-2821351218ff" in masked
    assert "6222 0212 3456 7890 128" not in masked
