"""Build the demo corpus: product clauses (PDF, DOCX, HTML, Markdown), claim cases and the catalog.

All insurers, products, people and numbers are fictional. The personal data in the cases
(ID numbers, phones, bank cards) is made up but well-formed, so that masking is exercised.
The generated files are committed; run this only to change them:

    .venv/bin/python demo/build_demo.py
"""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLAUSES = HERE / "clauses"
CASES = HERE / "cases"

Section = tuple[str, str, str]  # (number, heading, text)
Part = tuple[str, list[Section]]


@dataclass
class Product:
    product_id: str
    name: str
    insurer: str
    category: str
    status: str
    effective_date: str
    discontinued_date: str
    replaced_by: str
    aliases: list[str]
    fmt: str  # pdf | docx | html | md
    parts: list[Part] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"{self.product_id.lower()}.{self.fmt}"

    @property
    def title(self) -> str:
        return f"{self.name}条款"


# --- shared clause wording ------------------------------------------------------------------

def contract_part(min_age: str, max_age: str, cooling_days: int | None, term: str) -> Part:
    sections: list[Section] = [
        ("1.1", "合同构成", "本合同（以下简称“本合同”）是您与我们约定保险权利义务关系的协议，包括本保险条款、保险单或其他保险凭证、投保单、与本合同有关的投保文件、合法有效的声明、批注、批单及其他您与我们共同认可的书面协议。"),
        ("1.2", "合同成立与生效", "您提出保险申请、我们同意承保，本合同成立。本合同自我们同意承保、收取首期保险费并签发保险单的次日零时开始生效，具体生效日以保险单所载的日期为准。"),
        ("1.3", "投保年龄", f"本合同接受的投保年龄为{min_age}至{max_age}。投保年龄指您投保时被保险人的年龄，以周岁计算。"),
    ]
    if cooling_days:
        sections.append(("1.4", "犹豫期", f"自您签收本合同之次日起，有{cooling_days}日的犹豫期。在此期间请您认真审视本合同，如果您认为本合同与您的需求不相符，您可以在此期间提出解除本合同，我们将无息退还您所支付的全部保险费。解除本合同时，您需要填写申请书，并提供您的保险合同及有效身份证件。自我们收到您解除合同的书面申请时起，本合同即被解除，对本合同解除前发生的保险事故，我们不承担保险责任。"))
    sections.append((f"1.{len(sections) + 1}", "保险期间", term))
    return ("1 您与我们的合同", sections)


def claim_part(notice_days: int = 10) -> Part:
    return ("3 保险金的申请", [
        ("3.1", "受益人", "您或者被保险人可以指定一人或多人为身故保险金受益人。除另有指定外，身故保险金以外的其他保险金的受益人为被保险人本人。被保险人为无民事行为能力人或限制民事行为能力人的，可以由其监护人指定受益人。"),
        ("3.2", "保险事故通知", f"您或者受益人知道保险事故发生后应当在{notice_days}日内通知我们。故意或者因重大过失未及时通知，致使保险事故的性质、原因、损失程度等难以确定的，我们对无法确定的部分，不承担给付保险金的责任，但我们通过其他途径已经及时知道或者应当及时知道保险事故发生或者虽未及时通知但不影响我们确定保险事故的性质、原因、损失程度的除外。"),
        ("3.3", "保险金申请", "申请保险金时，申请人须填写保险金给付申请书，并提供申请人的有效身份证件、医院出具的诊断证明及相关病历资料。我们收到申请后，将在5日内作出核定；情形复杂的，在30日内作出核定。对属于保险责任的，我们在与受益人达成给付保险金的协议后10日内履行给付义务。"),
        ("3.4", "诉讼时效", "权利人向我们请求给付保险金的诉讼时效期间为2年，自其知道或者应当知道保险事故发生之日起计算。人寿保险的被保险人或者受益人向我们请求给付保险金的诉讼时效期间为5年。"),
    ])


def premium_part(grace_days: int = 60, installments: bool = True) -> Part:
    sections: list[Section] = [
        ("4.1", "保险费的支付", "本合同的交费方式和交费期间由您在投保时与我们约定，并在保险单上载明。分期支付保险费的，您应当在每个保险费约定支付日支付当期应交的保险费。"),
    ]
    if installments:
        sections.append(("4.2", "宽限期", f"分期支付保险费的，在支付首期保险费后，如果您到期未支付保险费，自保险费约定支付日的次日零时起{grace_days}日为宽限期。宽限期内发生的保险事故，我们仍承担保险责任，但在给付保险金时会扣减您欠交的保险费。如果您宽限期结束之后仍未支付保险费，则本合同自宽限期满的次日零时起效力中止。"))
    return ("4 保险费的支付", sections)


def other_part(number: str, extra: list[Section] | None = None) -> Part:
    sections: list[Section] = [
        (f"{number}.1", "明确说明与如实告知", "订立本合同时，我们应当向您说明本合同的内容。对保险条款中免除我们责任的条款，我们在订立合同时应当在投保单、保险单或者其他保险凭证上作出足以引起您注意的提示，并对该条款的内容以书面或者口头形式向您作出明确说明，未作提示或者明确说明的，该条款不产生效力。我们就您和被保险人的有关情况提出询问的，您应当如实告知。如果您故意或者因重大过失未履行前款规定的如实告知义务，足以影响我们决定是否同意承保或者提高保险费率的，我们有权解除本合同（依据《中华人民共和国保险法》第十六条、第十七条）。我们在合同订立时已经知道您未如实告知的情况的，我们不得解除合同；发生保险事故的，我们承担给付保险金的责任。"),
        (f"{number}.2", "年龄错误", "您在申请投保时，应当将与有效身份证件相符的被保险人的出生日期在投保单上填明。如果发生错误，我们按照下列方式办理：投保人申报的被保险人年龄不真实，并且其真实年龄不符合本合同约定投保年龄限制的，我们有权解除本合同，并向您退还本合同的现金价值（依据保险法第三十二条）。"),
        (f"{number}.3", "争议处理", "本合同履行过程中，双方发生争议不能协商解决的，可以达成仲裁协议通过仲裁解决，也可以依法向人民法院提起诉讼。"),
    ]
    return (f"{number} 其他需要关注的事项", sections + (extra or []))


EXCLUSIONS_LIFE = [
    "投保人对被保险人的故意杀害、故意伤害；",
    "被保险人故意犯罪或者抗拒依法采取的刑事强制措施；",
    "被保险人自本合同成立或者合同效力恢复之日起2年内自杀，但被保险人自杀时为无民事行为能力人的除外；",
    "被保险人服用、吸食或注射毒品；",
    "被保险人酒后驾驶、无合法有效驾驶证驾驶，或驾驶无有效行驶证的机动车；",
    "战争、军事冲突、暴乱或武装叛乱；",
    "核爆炸、核辐射或核污染。",
]


def numbered(items: list[str]) -> str:
    return "\n".join(f"（{i}）{text}" for i, text in enumerate(items, 1))


def cash_value_part(loan_pct: int, loan_months: int = 6) -> Part:
    return ("5 现金价值权益", [
        ("5.1", "现金价值", "现金价值指本合同所具有的价值，通常体现为解除合同时，根据精算原理计算的，由我们退还的那部分金额。保单年度末的现金价值金额会在保险单上载明，保单年度之内的现金价值金额，您可以向我们咨询。"),
        ("5.2", "保单贷款", f"在本合同有效期内，经我们审核同意后您可以办理保单贷款。贷款金额不得超过本合同现金价值扣除各项欠款后余额的{loan_pct}%，每次贷款期限最长不超过{loan_months}个月，贷款利率按您与我们签订的贷款协议中约定的利率执行。贷款本息在贷款到期时应当一并归还。当未还贷款本息加上其他各项欠款达到本合同现金价值时，本合同效力中止。"),
    ])


def termination_part(number: str) -> Part:
    return (f"{number} 合同的解除", [
        (f"{number}.1", "您解除合同的手续及风险", "如果您在犹豫期后申请解除本合同，请填写解除合同申请书并向我们提供保险合同及您的有效身份证件。自我们收到解除合同申请书时起，本合同终止。我们自收到解除合同申请书之日起30日内向您退还本合同的现金价值。您犹豫期后解除合同会遭受一定损失。"),
    ])


# --- critical illness -------------------------------------------------------------------------

def critical_illness(
    p: Product, *, min_age: str, max_age: str, cooling: int, waiting: int, ci_count: int, mild_count: int,
    mild_pct: int, mild_times: int, moderate: tuple[int, int, int] | None, loan_pct: int, grace: int = 60,
    extra_benefit: Section | None = None,
) -> None:
    benefits = [
        f"（1）轻症疾病保险金 被保险人于等待期后初次确诊本合同约定的轻症疾病（无论一种或多种），我们按基本保险金额的{mild_pct}%给付轻症疾病保险金。轻症疾病保险金累计给付以{mild_times}次为限，每次须为不同种类的轻症疾病。本合同约定的轻症疾病共{mild_count}种。",
    ]
    if moderate:
        count, pct, times = moderate
        benefits.append(f"（2）中症疾病保险金 被保险人于等待期后初次确诊本合同约定的中症疾病，我们按基本保险金额的{pct}%给付中症疾病保险金。中症疾病保险金累计给付以{times}次为限。本合同约定的中症疾病共{count}种。")
    n = len(benefits) + 1
    benefits.append(f"（{n}）重大疾病保险金 被保险人于等待期后初次确诊本合同约定的重大疾病（无论一种或多种），我们按基本保险金额给付重大疾病保险金，本合同终止。本合同约定的重大疾病共{ci_count}种，其中28种为中国保险行业协会统一规范定义的疾病。")
    benefits.append(f"（{n + 1}）身故保险金 被保险人于18周岁前身故，我们按您已交的本合同保险费给付身故保险金；被保险人于18周岁后身故，我们按基本保险金额给付身故保险金，本合同终止。")
    guarantee: list[Section] = [
        ("2.1", "基本保险金额", "本合同的基本保险金额由您在投保时与我们约定，并在保险单上载明。"),
        ("2.2", "等待期", f"自本合同生效日起{waiting}日内（含第{waiting}日）为等待期。被保险人在等待期内因意外伤害以外的原因被确诊患有本合同约定的重大疾病、中症疾病或轻症疾病的，我们不承担保险责任，无息退还您已交的本合同保险费，本合同终止。被保险人因意外伤害发生上述情形的，无等待期。"),
        ("2.3", "保险责任", "在本合同保险期间内，我们承担下列保险责任：\n" + "\n".join(benefits)),
        ("2.4", "责任免除", "因下列情形之一导致被保险人发生本合同约定的疾病、达到疾病状态或进行手术的，我们不承担保险责任：\n" + numbered([
            "投保人对被保险人的故意杀害、故意伤害；",
            "被保险人故意自伤、故意犯罪或者抗拒依法采取的刑事强制措施；",
            "被保险人服用、吸食或注射毒品；",
            "被保险人酒后驾驶、无合法有效驾驶证驾驶，或驾驶无有效行驶证的机动车；",
            "被保险人感染艾滋病病毒或患艾滋病；",
            "战争、军事冲突、暴乱或武装叛乱；",
            "核爆炸、核辐射或核污染；",
            "遗传性疾病，先天性畸形、变形或染色体异常。",
        ])),
    ]
    if extra_benefit:
        guarantee.append(extra_benefit)
    p.parts = [
        contract_part(min_age, max_age, cooling, "本合同的保险期间为被保险人终身，自本合同生效日零时起至被保险人身故时止。"),
        ("2 我们提供的保障", guarantee),
        claim_part(),
        premium_part(grace),
        cash_value_part(loan_pct),
        ("6 合同效力的中止及恢复", [
            ("6.1", "效力中止", "在本合同有效期内，因宽限期届满仍未交付保险费或者保单贷款本息达到现金价值等原因导致本合同效力中止的，我们不承担保险责任。"),
            ("6.2", "效力恢复", "本合同效力中止之日起2年内，您可以申请恢复合同效力。经您与我们协商并达成协议，自您补交保险费之日起，合同效力恢复。自本合同效力中止之日起满2年双方未达成协议的，我们有权解除合同。"),
        ]),
        termination_part("7"),
        other_part("8"),
    ]


# --- medical -----------------------------------------------------------------------------------

def medical(
    p: Product, *, max_age: str, deductible: str, renew: str, proton: bool, outside_drugs: bool, cooling: int | None,
) -> None:
    extra = []
    if proton:
        extra.append("（4）质子重离子医疗费用 被保险人于等待期后经医院确诊初次罹患恶性肿瘤，在本公司指定的质子重离子医疗机构进行质子、重离子放射治疗的，我们按100%的比例给付质子重离子医疗保险金，该项责任的年度限额为100万元，且不计免赔额。")
    if outside_drugs:
        extra.append(f"（{4 + len(extra)}）院外特定药品费用 被保险人于等待期后经医院确诊初次罹患恶性肿瘤，在院外药店购买本合同约定的特定药品发生的费用，我们在扣除免赔额后按100%的比例给付，年度限额为100万元。")
    p.parts = [
        contract_part("出生满28日", max_age, cooling, "本合同的保险期间为1年，自本合同生效日零时起至期满日24时止，具体以保险单载明的起止时间为准。"),
        ("2 我们提供的保障", [
            ("2.1", "保险金额", "本合同的年度保险金额为300万元，其中一般医疗保险金的年度限额为300万元，重大疾病医疗保险金的年度限额为600万元（含一般医疗保险金的给付金额）。"),
            ("2.2", "等待期", "自本合同生效日起30日内（含第30日）为等待期。被保险人在等待期内发生疾病的，无论是否在等待期后就诊，我们均不承担保险责任，但因意外伤害就医的不受等待期限制。续保的本合同无等待期。"),
            ("2.3", "保险责任", "在本合同保险期间内，被保险人于等待期后因疾病或于保险期间内因意外伤害，在医院接受治疗的，我们对其发生的、符合通常惯例且属于医疗必需的下列费用，在扣除免赔额后按约定的赔付比例给付保险金：\n（1）住院医疗费用：床位费、加床费、膳食费、护理费、重症监护室床位费、诊疗费、检查检验费、治疗费、药品费、手术费；\n（2）特殊门诊医疗费用：门诊肾透析、门诊恶性肿瘤治疗、器官移植后的门诊抗排异治疗；\n（3）住院前后门急诊医疗费用：住院前7日和出院后30日内，因与该次住院相同原因而发生的门急诊医疗费用。" + ("\n" + "\n".join(extra) if extra else "")),
            ("2.4", "免赔额", f"本合同的年免赔额为{deductible}。免赔额指在保险期间内，应由被保险人自行承担、本合同不予赔付的医疗费用金额。被保险人通过基本医疗保险、公费医疗获得的补偿，不可用于抵扣免赔额；通过其他商业保险获得的补偿，可以用于抵扣免赔额。罹患本合同约定的重大疾病发生的医疗费用不计免赔额。"),
            ("2.5", "赔付比例", "若被保险人以参加基本医疗保险身份投保并就诊，且已从基本医疗保险获得补偿，赔付比例为100%；若被保险人以参加基本医疗保险身份投保，但未以参加基本医疗保险身份就诊并结算，赔付比例为60%；若被保险人以未参加基本医疗保险身份投保，赔付比例为100%。"),
            ("2.6", "续保", renew),
            ("2.7", "责任免除", "因下列原因导致被保险人发生医疗费用的，我们不承担给付保险金的责任：\n" + numbered([
                "投保前已患有的疾病及其并发症（既往症），但您已如实告知且我们同意承保的除外；",
                "被保险人故意自伤、自杀（但被保险人自杀时为无民事行为能力人的除外）、故意犯罪或者抗拒依法采取的刑事强制措施；",
                "被保险人服用、吸食或注射毒品；",
                "被保险人酒后驾驶、无合法有效驾驶证驾驶，或驾驶无有效行驶证的机动车；",
                "遗传性疾病，先天性畸形、变形或染色体异常；",
                "美容、整形、矫形、变性手术及其并发症；",
                "被保险人从事潜水、跳伞、攀岩、探险、武术比赛、摔跤比赛、特技表演等高风险运动。",
            ])),
        ]),
        claim_part(5),
        ("4 保险费的支付", [
            ("4.1", "保险费的支付", "本合同的保险费按年度计算，您可以选择一次性支付或按月分期支付。按月分期支付的，如果您到期未支付保险费，自保险费约定支付日的次日零时起30日为宽限期；宽限期内发生的保险事故，我们仍承担保险责任，但会扣减欠交的保险费。宽限期满仍未支付的，本合同自宽限期满的次日零时起效力终止。"),
        ]),
        termination_part("5"),
        other_part("6"),
    ]


def build_products() -> list[Product]:
    products = [
        Product("RH-CI-2019", "瑞禾康宁终身重大疾病保险（2019版）", "瑞禾人寿保险股份有限公司", "重大疾病保险", "discontinued",
                "2019-03-01", "2023-06-30", "RH-CI-2023", ["康宁2019", "康宁重疾2019", "老康宁"], "pdf"),
        Product("RH-CI-2023", "瑞禾康宁终身重大疾病保险（2023版）", "瑞禾人寿保险股份有限公司", "重大疾病保险", "on_sale",
                "2023-07-01", "", "", ["康宁2023", "新康宁", "康宁重疾2023"], "docx"),
        Product("AK-CI-2021", "安康安享终身重大疾病保险", "安康健康保险股份有限公司", "重大疾病保险", "on_sale",
                "2021-05-10", "", "", ["安享重疾", "安享"], "md"),
        Product("AK-MED-2020", "安康e生百万医疗保险（2020版）", "安康健康保险股份有限公司", "医疗保险", "discontinued",
                "2020-01-15", "2022-12-31", "AK-MED-2022", ["e生2020", "老e生百万"], "html"),
        Product("AK-MED-2022", "安康e生百万医疗保险（2022版）", "安康健康保险股份有限公司", "医疗保险", "on_sale",
                "2023-01-01", "", "", ["e生2022", "e生百万", "e生百万医疗"], "md"),
        Product("DX-TL-2021", "鼎信守护定期寿险", "鼎信人寿保险有限公司", "定期寿险", "suspended",
                "2021-09-01", "2024-03-15", "", ["守护定寿", "鼎信守护"], "pdf"),
        Product("DX-AN-2020", "鼎信金满仓年金保险", "鼎信人寿保险有限公司", "年金保险", "on_sale",
                "2020-06-18", "", "", ["金满仓", "金满仓年金"], "docx"),
        Product("HN-ACC-2018", "恒宁畅行综合意外伤害保险（2018版）", "恒宁财产保险股份有限公司", "意外伤害保险", "discontinued",
                "2018-04-01", "2022-03-31", "HN-ACC-2022", ["畅行意外2018", "老畅行"], "md"),
        Product("HN-ACC-2022", "恒宁畅行综合意外伤害保险（2022版）", "恒宁财产保险股份有限公司", "意外伤害保险", "on_sale",
                "2022-04-01", "", "", ["畅行意外", "畅行2022", "畅行意外险"], "html"),
    ]
    by_id = {p.product_id: p for p in products}

    critical_illness(by_id["RH-CI-2019"], min_age="出生满28日", max_age="55周岁", cooling=15, waiting=180, ci_count=100,
                     mild_count=40, mild_pct=20, mild_times=3, moderate=None, loan_pct=80)
    critical_illness(by_id["RH-CI-2023"], min_age="出生满28日", max_age="60周岁", cooling=20, waiting=90, ci_count=120,
                     mild_count=50, mild_pct=30, mild_times=3, moderate=(25, 50, 2), loan_pct=80,
                     extra_benefit=("2.5", "豁免保险费", "被保险人于等待期后初次确诊本合同约定的轻症疾病或中症疾病的，我们将豁免本合同自确诊之日起的续期保险费，本合同继续有效。"))
    critical_illness(by_id["AK-CI-2021"], min_age="出生满30日", max_age="65周岁", cooling=15, waiting=90, ci_count=110,
                     mild_count=45, mild_pct=30, mild_times=2, moderate=(20, 60, 2), loan_pct=70, grace=60,
                     extra_benefit=("2.5", "恶性肿瘤额外给付", "被保险人于等待期后初次确诊恶性肿瘤——重度，且确诊时未满60周岁的，我们在给付重大疾病保险金之外，额外按基本保险金额的50%给付恶性肿瘤额外保险金，该项保险金以给付1次为限。"))
    medical(by_id["AK-MED-2020"], max_age="60周岁", deductible="1万元", cooling=None, proton=False, outside_drugs=False,
            renew="本合同为不保证续保合同。保险期间届满，我们有权根据本产品的整体经营状况决定是否接受续保；若本产品统一停售，我们将不再接受续保。")
    medical(by_id["AK-MED-2022"], max_age="65周岁", deductible="1万元", cooling=None, proton=True, outside_drugs=True,
            renew="本合同的保证续保期间为6年。在保证续保期间内，即使被保险人的健康状况发生变化或已发生保险金给付，我们仍按本产品续保时的费率接受续保，不会因被保险人的健康状况单独调整费率。保证续保期间届满时，您需要重新投保。")
    by_id["DX-TL-2021"].parts = [
        contract_part("18周岁", "55周岁", 15, "本合同的保险期间为10年、20年、30年或至被保险人60周岁、70周岁的保单周年日，由您在投保时选择并在保险单上载明。"),
        ("2 我们提供的保障", [
            ("2.1", "基本保险金额", "本合同的基本保险金额由您在投保时与我们约定，最高不超过300万元，并在保险单上载明。"),
            ("2.2", "等待期", "自本合同生效日起90日内（含第90日）为等待期。被保险人在等待期内因意外伤害以外的原因身故或全残的，我们不承担保险责任，无息退还您已交的保险费，本合同终止。"),
            ("2.3", "保险责任", "在本合同保险期间内，我们承担下列保险责任：\n（1）身故保险金 被保险人于等待期后身故的，我们按基本保险金额给付身故保险金，本合同终止。\n（2）全残保险金 被保险人于等待期后全残的，我们按基本保险金额给付全残保险金，本合同终止。身故保险金与全残保险金不可兼得。"),
            ("2.4", "责任免除", "因下列情形之一导致被保险人身故或全残的，我们不承担给付保险金的责任：\n" + numbered(EXCLUSIONS_LIFE)),
        ]),
        claim_part(),
        premium_part(60),
        ("5 现金价值权益", [
            ("5.1", "现金价值", "本合同保单年度末的现金价值金额会在保险单上载明。本合同不提供保单贷款。"),
        ]),
        termination_part("6"),
        other_part("7"),
    ]
    by_id["DX-AN-2020"].parts = [
        contract_part("出生满28日", "65周岁", 15, "本合同的保险期间自本合同生效日零时起至被保险人85周岁后的首个保单周年日零时止。"),
        ("2 我们提供的保障", [
            ("2.1", "基本保险金额", "本合同的基本保险金额由您在投保时与我们约定，并在保险单上载明。"),
            ("2.2", "保险责任", "在本合同保险期间内，我们承担下列保险责任：\n（1）年金 自被保险人年满60周岁后的首个保单周年日起（年金领取起始年龄也可选择65周岁，投保时确定），若被保险人生存，我们每年按基本保险金额的20%给付年金，直至保险期间届满。\n（2）满期保险金 被保险人生存至保险期间届满的，我们按本合同已交保险费给付满期保险金，本合同终止。\n（3）身故保险金 被保险人身故的，我们按本合同已交保险费与身故当时本合同现金价值两者之较大者给付身故保险金，本合同终止。"),
            ("2.3", "年金领取方式", "年金可以选择按年领取或按月领取，也可以选择累积生息。选择累积生息的，累积利率由我们每年公布，最低保证利率为1.75%。"),
            ("2.4", "责任免除", "因下列情形之一导致被保险人身故的，我们不承担给付身故保险金的责任，但向您退还本合同的现金价值：\n" + numbered(EXCLUSIONS_LIFE[:4] + EXCLUSIONS_LIFE[5:])),
        ]),
        claim_part(),
        premium_part(60),
        cash_value_part(80),
        termination_part("6"),
        other_part("7"),
    ]
    accident_parts = {
        "HN-ACC-2018": dict(max_age="60周岁", medical_deductible="100元", medical_pct=80, drunk=True, sports=False),
        "HN-ACC-2022": dict(max_age="65周岁", medical_deductible="0元", medical_pct=100, drunk=True, sports=True),
    }
    for pid, cfg in accident_parts.items():
        exclusions = [
            "投保人对被保险人的故意杀害、故意伤害；",
            "被保险人自致伤害或自杀，但被保险人自杀时为无民事行为能力人的除外；",
            "被保险人因疾病导致的伤害，包括猝死、食物中毒、高原反应、中暑、病毒和细菌感染；",
            "被保险人酒后驾驶、醉酒驾驶、无合法有效驾驶证驾驶，或驾驶无有效行驶证的机动车；",
            "被保险人从事潜水、跳伞、攀岩、蹦极、赛车、探险等高风险运动；" if not cfg["sports"] else "被保险人参加职业体育比赛；",
            "战争、军事冲突、暴乱或武装叛乱；核爆炸、核辐射或核污染。",
        ]
        sports = [] if not cfg["sports"] else [("2.5", "高风险运动保障", "被保险人在保险期间内参加潜水、滑雪、攀岩、蹦极等非职业性高风险运动遭受意外伤害的，我们按本合同约定承担意外身故、意外伤残和意外医疗保险责任，但意外身故及伤残保险金以基本保险金额的50%为限。")]
        by_id[pid].parts = [
            contract_part("18周岁", cfg["max_age"], None, "本合同的保险期间为1年，自本合同生效日零时起至期满日24时止。"),
            ("2 我们提供的保障", [
                ("2.1", "保险金额", "本合同的意外身故及伤残保险金额、意外医疗保险金额由您在投保时与我们约定，并在保险单上载明。"),
                ("2.2", "保险责任", f"在本合同保险期间内，我们承担下列保险责任：\n（1）意外身故保险金 被保险人因遭受意外伤害事故，并自事故发生之日起180日内因该事故身故的，我们按意外身故及伤残保险金额给付意外身故保险金。\n（2）意外伤残保险金 被保险人因遭受意外伤害事故，并自事故发生之日起180日内因该事故造成《人身保险伤残评定标准》所列伤残的，我们按该标准所对应的给付比例乘以意外身故及伤残保险金额给付意外伤残保险金。\n（3）意外医疗保险金 被保险人因遭受意外伤害事故在医院进行治疗的，我们对其实际发生的合理且必要的医疗费用，扣除{cfg['medical_deductible']}的免赔额后，按{cfg['medical_pct']}%的比例给付意外医疗保险金。"),
                ("2.3", "免赔额", f"本合同意外医疗保险责任的每次事故免赔额为{cfg['medical_deductible']}。"),
                ("2.4", "责任免除", "因下列原因之一导致被保险人身故、伤残或发生医疗费用的，我们不承担给付保险金的责任：\n" + numbered(exclusions)),
                *sports,
            ]),
            claim_part(),
            ("4 保险费的支付", [("4.1", "保险费的支付", "本合同的保险费在投保时一次性支付。")]),
            termination_part("5"),
            other_part("6", [("6.4", "释义：酒后驾驶", "指经检测或鉴定，发生事故时车辆驾驶人员每百毫升血液中的酒精含量达到或超过20毫克，公安机关交通管理部门依据《中华人民共和国道路交通安全法》认定为饮酒后驾驶或醉酒后驾驶。")]),
        ]
    return products


# --- writers -----------------------------------------------------------------------------------

def intro(p: Product) -> str:
    return f"阅读指引：本条款由{p.insurer}（以下简称“我们”）制定。请您仔细阅读条款，尤其是黑体字标注的责任免除、等待期、免赔额等内容。"


def write_markdown(p: Product, path: Path) -> None:
    lines = [f"# {p.title}", "", intro(p), ""]
    for heading, sections in p.parts:
        lines += [f"## {heading}", ""]
        for number, name, text in sections:
            body = text.split("\n")
            lines.append(f"**{number} {name}** {body[0]}")
            lines.append("")
            for para in body[1:]:
                lines += [para, ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_html(p: Product, path: Path) -> None:
    out = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">', f"<title>{html.escape(p.title)}</title>",
        "<style>body{font-family:serif;max-width:48em;margin:auto}</style></head><body>",
        '<nav>首页 &gt; 产品中心 &gt; 条款查询</nav>',
        f"<h1>{html.escape(p.title)}</h1>", f"<p>{html.escape(intro(p))}</p>",
    ]
    for heading, sections in p.parts:
        out.append(f"<h2>{html.escape(heading)}</h2>")
        for number, name, text in sections:
            body = text.split("\n")
            out.append(f"<p><b>{number} {html.escape(name)}</b> {html.escape(body[0])}</p>")
            out += [f"<p>{html.escape(para)}</p>" for para in body[1:]]
    out.append(f"<footer>{html.escape(p.insurer)} 版权所有 客服热线 95500-0</footer></body></html>")
    path.write_text("\n".join(out), encoding="utf-8")


def write_docx(title: str, parts: list[tuple[str, list[str]]], path: Path, lead: str = "") -> None:
    import docx

    document = docx.Document()
    document.core_properties.author = "BrokerKG demo"
    document.add_heading(title, level=0)
    if lead:
        document.add_paragraph(lead)
    for heading, paragraphs in parts:
        if heading:
            document.add_heading(heading, level=1)
        for para in paragraphs:
            document.add_paragraph(para)
    document.save(path)


def clause_docx(p: Product, path: Path) -> None:
    parts = []
    for heading, sections in p.parts:
        paragraphs = []
        for number, name, text in sections:
            body = text.split("\n")
            paragraphs.append(f"{number} {name} {body[0]}")
            paragraphs += body[1:]
        parts.append((heading, paragraphs))
    write_docx(p.title, parts, path, intro(p))


def write_pdf(title: str, paragraphs: list[str], path: Path, header: str) -> None:
    """A real typeset PDF: wrapped lines, running header, page numbers (which ingest must drop)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=10.5, leading=16, wordWrap="CJK")
    head = ParagraphStyle("head", parent=body, fontSize=12, leading=20, spaceBefore=6)
    top = ParagraphStyle("title", parent=body, fontSize=16, leading=24, alignment=1, spaceAfter=12)

    def decorate(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont("STSong-Light", 8)
        canvas.drawString(56, A4[1] - 36, header)
        canvas.drawCentredString(A4[0] / 2, 30, f"第 {doc.page} 页")
        canvas.restoreState()

    story = [Paragraph(html.escape(title), top)]
    for para in paragraphs:
        style = head if para.startswith("##") else body
        story.append(Paragraph(html.escape(para.lstrip("# ")), style))
        story.append(Spacer(1, 3))
    SimpleDocTemplate(str(path), pagesize=A4, title=title, author="BrokerKG demo",
                      topMargin=56, bottomMargin=56).build(story, onFirstPage=decorate, onLaterPages=decorate)


def clause_pdf(p: Product, path: Path) -> None:
    paragraphs = [intro(p)]
    for heading, sections in p.parts:
        paragraphs.append(f"## {heading}")
        for number, name, text in sections:
            body = text.split("\n")
            paragraphs.append(f"{number} {name} {body[0]}")
            paragraphs += body[1:]
    write_pdf(p.title, paragraphs, path, f"{p.insurer} · {p.name}")


# --- claim cases -------------------------------------------------------------------------------

CASE_TEXTS: list[dict[str, object]] = [
    {
        "file": "case-01-nondisclosure-kangning2019.md",
        "title": "李某诉瑞禾人寿重大疾病保险合同纠纷案（未如实告知甲状腺结节）",
        "sections": [
            ("基本案情", "2021年3月，李某（身份证号：330106198503124512，联系电话：13957124680）通过经纪人为自己投保瑞禾康宁终身重大疾病保险（2019版），基本保险金额50万元。投保单健康告知栏询问“过去两年内是否有甲状腺结节、乳腺结节等检查异常”，李某勾选“否”。2022年8月，李某确诊甲状腺乳头状癌并申请重大疾病保险金。瑞禾人寿调查发现李某于2020年体检时已查出甲状腺结节（TI-RADS 4a级）并被建议进一步穿刺，遂以未如实告知为由解除合同并拒赔。"),
            ("争议焦点", "李某未告知体检发现的甲状腺结节，是否构成故意或重大过失未履行如实告知义务；保险人能否据此解除合同且不退还保险费。"),
            ("法院认为", "投保单对甲状腺结节作了明确询问，李某在投保前已被医生建议进一步检查，其对结节情况明知，未如实告知足以影响保险人决定是否承保。依据《中华人民共和国保险法》第十六条第二款、第四款，投保人故意不履行如实告知义务的，保险人对于合同解除前发生的保险事故不承担给付保险金的责任，并不退还保险费。保险人自知道解除事由之日起未超过三十日行使解除权，符合保险法第十六条第三款的规定。"),
            ("处理结果", "法院驳回李某要求给付重大疾病保险金50万元的诉讼请求。"),
            ("律师点评", "健康告知应以投保单的书面询问为限，经纪人应提醒客户对询问事项逐项如实回答，体检异常即使尚未确诊也须告知。"),
        ],
        "products": "RH-CI-2019",
    },
    {
        "file": "case-02-waiting-period-esheng2020.html",
        "title": "王某与安康健康医疗保险理赔争议调解案（等待期内确诊）",
        "sections": [
            ("基本案情", "王某（手机：186 2135 7790）于2022年6月1日投保安康e生百万医疗保险（2020版），合同于次日生效。2022年6月20日，王某因乳房肿块就诊，6月25日经病理确诊为乳腺癌，随后住院手术，花费医疗费用18.6万元。安康健康以王某在等待期内确诊疾病为由拒绝赔付，并无息退还保险费。"),
            ("争议焦点", "被保险人在30日等待期内确诊、等待期后继续治疗发生的医疗费用，保险人是否应当赔付。"),
            ("调解意见", "条款2.2约定，被保险人在等待期内发生疾病的，无论是否在等待期后就诊，保险人均不承担保险责任。该条款在投保页面以加粗字体提示，保险人履行了保险法第十七条规定的提示和明确说明义务，等待期条款有效。"),
            ("处理结果", "经调解，王某接受保险公司拒赔决定，保险公司无息退还已交保险费1,268元，合同终止。"),
            ("风险提示", "百万医疗保险的等待期一般为30日，续保无等待期；经纪人应提示客户等待期内出现症状的风险，并避免在观察期内断保。"),
        ],
        "products": "AK-MED-2020",
    },
    {
        "file": "case-03-drunk-driving-changxing2018.docx",
        "title": "赵某等诉恒宁财险意外伤害保险合同纠纷案（酒后驾驶免责）",
        "sections": [
            ("基本案情", "赵某之父赵某某投保恒宁畅行综合意外伤害保险（2018版），意外身故保险金额100万元。2021年12月，赵某某夜间驾驶小型轿车撞上护栏身亡，交警部门检测其血液酒精含量为每百毫升56毫克，认定为饮酒后驾驶。赵某等继承人（联系人赵某，身份证号 110105199003077315）向恒宁财险申请意外身故保险金，恒宁财险依据条款责任免除中“酒后驾驶”的约定拒赔。"),
            ("争议焦点", "保险人对酒后驾驶免责条款仅作了提示而未逐条口头说明，该免责条款是否生效。"),
            ("法院认为", "饮酒后驾驶机动车是法律、行政法规中的禁止性规定情形。依据《最高人民法院关于适用〈中华人民共和国保险法〉若干问题的解释（二）》第十条，保险人将法律、行政法规中的禁止性规定情形作为保险合同免责条款的免责事由，对该条款作出提示后，投保人、被保险人或者受益人以保险人未履行明确说明义务为由主张该条款不生效的，人民法院不予支持。保险人已在保单首页以加粗字体提示，尽到了保险法第十七条第二款的提示义务。"),
            ("判决结果", "驳回赵某等人要求给付意外身故保险金100万元的诉讼请求。"),
        ],
        "products": "HN-ACC-2018",
    },
    {
        "file": "case-04-grace-period-shouhu.txt",
        "title": "陈某诉鼎信人寿定期寿险合同纠纷案（宽限期内身故）",
        "sections": [
            ("基本案情", "陈某某于2021年10月投保鼎信守护定期寿险，基本保险金额200万元，年交保险费3,860元，约定续期保险费自银行卡6222 0212 3456 7890 128自动扣款，受益人为其妻陈某（电话：0571-8812 3456，手机13605718899）。2023年10月续期扣款因余额不足失败，2023年11月20日陈某某因心肌梗死身故，此时距约定支付日未满60日。鼎信人寿以未交续期保险费为由拒赔。"),
            ("争议焦点", "投保人逾期未交续期保险费，被保险人在宽限期内身故，保险人是否应承担保险责任。"),
            ("法院认为", "依据《中华人民共和国保险法》第三十六条，合同约定分期支付保险费，投保人支付首期保险费后，除合同另有约定外，投保人自保险人催告之日起超过三十日未支付当期保险费，或者超过约定的期限六十日未支付当期保险费的，合同效力中止。被保险人在前款规定期限内发生保险事故的，保险人应当按照合同约定给付保险金，但可以扣减欠交的保险费。涉案条款4.2亦约定60日宽限期。"),
            ("判决结果", "鼎信人寿给付陈某身故保险金2,000,000元，扣减欠交保险费3,860元，实付1,996,140元。"),
        ],
        "products": "DX-TL-2021",
        "encoding": "gbk",
    },
    {
        "file": "case-05-beneficiary-jinmancang.pdf",
        "title": "刘某某继承人诉鼎信人寿年金保险合同纠纷案（未指定受益人）",
        "sections": [
            ("基本案情", "刘某某为自己投保鼎信金满仓年金保险，未指定身故保险金受益人。2024年2月刘某某因病身故，其配偶与其子女就身故保险金的归属发生争议。刘某某的配偶（身份证号 320102196805213020）主张身故保险金应全部归其所有。"),
            ("争议焦点", "未指定受益人时，身故保险金应如何处理。"),
            ("法院认为", "依据《中华人民共和国保险法》第四十二条，被保险人死亡后，没有指定受益人或者受益人指定不明无法确定的，保险金作为被保险人的遗产，由保险人依照《中华人民共和国民法典》的规定履行给付保险金的义务。身故保险金按已交保险费与现金价值两者之较大者计算。"),
            ("处理结果", "身故保险金作为刘某某的遗产，由其配偶与两名子女依法定继承各分得三分之一。"),
            ("经验启示", "经纪人在递交投保单时应提醒客户明确指定受益人及受益顺序、份额，避免身故保险金进入遗产程序。"),
        ],
        "products": "DX-AN-2020",
    },
    {
        "file": "case-06-physical-exam-anxiang.md",
        "title": "周某诉安康健康重大疾病保险合同纠纷案（保险人知道体检结果）",
        "sections": [
            ("基本案情", "周某（手机号码：+86 139 1021 5566）于2022年投保安康安享终身重大疾病保险，投保前按保险公司要求在指定机构体检，体检报告显示其肝功能异常。保险公司审核后按标准体承保。2024年周某确诊肝癌，保险公司以周某未告知脂肪肝病史为由要求解除合同。"),
            ("争议焦点", "保险人在承保前已知道体检结果，能否再以投保人未如实告知为由解除合同。"),
            ("法院认为", "依据《最高人民法院关于适用〈中华人民共和国保险法〉若干问题的解释（三）》第五条，保险人知道被保险人的体检结果，仍以投保人未就相关情况履行如实告知义务为由要求解除合同的，人民法院不予支持。同时保险法第十六条第六款规定，保险人在合同订立时已经知道投保人未如实告知的情况的，保险人不得解除合同。"),
            ("判决结果", "安康健康给付周某重大疾病保险金30万元，并按条款2.5给付恶性肿瘤额外保险金15万元。"),
        ],
        "products": "AK-CI-2021",
    },
    {
        "file": "case-07-non-social-insurance-esheng2022.html",
        "title": "孙某与安康健康百万医疗保险赔付比例争议案",
        "sections": [
            ("案情简介", "孙某以参加基本医疗保险身份投保安康e生百万医疗保险（2022版）。2024年5月孙某在外地出差时突发阑尾炎住院手术，因未办理异地就医备案，全部费用以自费方式结算，共计4.2万元。保险公司扣除1万元免赔额后按60%赔付19,200元，孙某认为应按100%赔付。"),
            ("争议焦点", "以社保身份投保但未以社保身份结算的，赔付比例如何确定。"),
            ("处理结果", "条款2.5已约定此情形赔付比例为60%，且在投保告知页面加粗提示，孙某的投诉未获支持。因阑尾炎属意外伤害以外的疾病且发生在等待期后，保险责任成立，赔付金额无误。"),
            ("风险提示", "经纪人应提示以社保身份投保的客户，就医时尽量使用医保结算，异地就医应提前备案，否则赔付比例会降至60%。"),
        ],
        "products": "AK-MED-2022",
    },
]


def build_cases() -> None:
    CASES.mkdir(exist_ok=True)
    for case in CASE_TEXTS:
        path = CASES / str(case["file"])
        title = str(case["title"])
        sections: list[tuple[str, str]] = case["sections"]  # type: ignore[assignment]
        if path.suffix == ".md":
            text = f"# {title}\n\n" + "\n\n".join(f"## {h}\n\n{t}" for h, t in sections) + "\n"
            path.write_text(text, encoding="utf-8")
        elif path.suffix == ".html":
            body = "".join(f"<h2>{html.escape(h)}</h2><p>{html.escape(t)}</p>" for h, t in sections)
            path.write_text(f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
                            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>", encoding="utf-8")
        elif path.suffix == ".docx":
            write_docx(title, [(h, [t]) for h, t in sections], path)
        elif path.suffix == ".txt":
            text = title + "\n\n" + "\n\n".join(f"【{h}】\n{t}" for h, t in sections) + "\n"
            path.write_bytes(text.encode(str(case.get("encoding", "utf-8"))))
        elif path.suffix == ".pdf":
            paragraphs = []
            for h, t in sections:
                paragraphs += [f"## {h}", t]
            write_pdf(title, paragraphs, path, "保险纠纷典型案例汇编（演示）")


def main() -> None:
    CLAUSES.mkdir(exist_ok=True)
    products = build_products()
    writers = {"md": write_markdown, "html": write_html, "docx": clause_docx, "pdf": clause_pdf}
    for p in products:
        writers[p.fmt](p, CLAUSES / p.filename)
    with (HERE / "catalog.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["product_id", "name", "insurer", "category", "status", "effective_date",
                         "discontinued_date", "replaced_by", "aliases", "documents"])
        for p in products:
            writer.writerow([p.product_id, p.name, p.insurer, p.category, p.status, p.effective_date,
                             p.discontinued_date, p.replaced_by, "|".join(p.aliases), f"clauses/{p.filename}"])
    build_cases()
    print(f"wrote {len(products)} clauses, {len(CASE_TEXTS)} cases and catalog.csv under {HERE}")


if __name__ == "__main__":
    main()
