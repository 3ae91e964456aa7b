"""Personal-data masking at scale: ≥ 1,000 generated strings in every variant, and look-alikes that must stay."""

from __future__ import annotations

import random

from domain.mask import _ID_CHECK, _ID_WEIGHTS, find_pii, luhn_ok, mask_pii

REGIONS = ["110105", "310104", "330106", "440305", "510107", "320102", "420111", "370202"]
FULL = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def id18(rng: random.Random) -> str:
    body = f"{rng.choice(REGIONS)}{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def id15(rng: random.Random) -> str:
    return f"{rng.choice(REGIONS)}{rng.randint(50, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"


def card(rng: random.Random) -> str:
    length = rng.choice([16, 16, 19])
    body = "62" + "".join(str(rng.randint(0, 9)) for _ in range(length - 3))
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def email(rng: random.Random) -> str:
    local = rng.choice(["li.ming", "zhangwei88", "wang_fang", "chen+claims", "liu2024"])
    return f"{local}{rng.randint(1, 999)}@{rng.choice(['example.com', 'mail.example.cn', 'qq.example.org'])}"


def variants(value: str, rng: random.Random, kind: str) -> str:
    style = rng.randrange(5)
    if kind == "email":
        return value
    if kind == "mobile" and style == 0:
        return f"+86 {value[:3]} {value[3:7]} {value[7:]}"
    if kind == "mobile" and style == 1:
        return f"{value[:3]}-{value[3:7]}-{value[7:]}"
    if style == 2:
        return value.translate(FULL)  # full-width digits
    if style == 3 and kind in ("card", "id18"):
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style == 4 and kind == "id18":
        return value[:-1] + value[-1].lower()
    return value


def look_alikes(rng: random.Random) -> list[str]:
    out = []
    for _ in range(100):
        out.append(f"P{rng.randint(10**13, 10**14 - 1)}")  # policy number with a letter prefix
        out.append(f"{rng.randint(2015, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}")  # date as digits
        out.append(f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        out.append(f"{rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)}元")  # amounts
        out.append(f"{rng.randint(10, 999)}万元")
        bad = id18(rng)
        out.append(bad[:-1] + ("0" if bad[-1] != "0" else "1"))  # an 18-digit number failing MOD 11-2
        out.append(f"1{rng.choice('012')}{rng.randint(0, 999999999):09d}")  # 11 digits, not a mobile prefix
        out.append(f"{rng.randint(10**12, 10**13 - 1)}")  # 13-digit order number
        c = card(rng)
        out.append(c[:-1] + str((int(c[-1]) + 1) % 10))  # fails Luhn
        out.append(f"第{rng.randint(1, 200)}条第{rng.randint(1, 5)}款")
    return out


def test_masking_recall_and_precision_on_generated_personal_data() -> None:
    rng = random.Random(2026)
    positives: list[tuple[str, str]] = []
    makers = {"id18": id18, "id15": id15, "mobile": mobile, "card": card, "email": email}
    for kind, make in makers.items():
        for _ in range(240 if kind != "id15" else 100):
            positives.append((kind, variants(make(rng), rng, kind)))
    negatives = look_alikes(rng)
    assert len(positives) >= 1000 and len(negatives) >= 1000

    caught = 0
    misses = []
    for kind, value in positives:
        text = f"客户{kind}信息：{value}，请核实。"
        masked = mask_pii(text)
        if masked != text and not find_pii(masked):
            caught += 1
        else:
            misses.append((kind, value))
    false_alarms = [v for v in negatives if mask_pii(f"保单信息：{v}，请核实。") != f"保单信息：{v}，请核实。"]
    recall = caught / len(positives)
    precision = caught / (caught + len(false_alarms))
    print(f"\nmasking: {len(positives)} personal-data strings, {len(negatives)} look-alikes; "
          f"recall {recall:.4f}, precision {precision:.4f}")
    assert recall >= 0.995, misses[:10]
    assert precision >= 0.95, false_alarms[:10]
