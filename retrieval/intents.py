"""What kind of answer a question wants: document type, a product's sales status, a case's outcome, a quantity.

Rules, not a model: they hold for any insurance question (案例 means cases, 还在售吗 asks for
the status, 多少天 wants a number of days), whatever the corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Case reports name parties as surname + 某 (王某, 李某某).
_SURNAME = (
    "[王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏"
    "钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文]"
)
_DOC_TYPES = (
    (re.compile(r"案例|案件|案子|判例|判决|法院|纠纷|拒赔案|典型案|" + _SURNAME + "某"), "case"),
    (re.compile(r"(?<!免责)(?<!格式)(?<!霸王)条款|合同约定|保险责任|责任免除|产品说明"), "clause"),
    (re.compile(r"法规|法律|法条|规定|条例|司法解释|监管|依据"), "regulation"),
)
_STATUS = re.compile(
    r"还在售|在售吗|在卖吗|还卖吗|还在卖|停售|停卖|下架|还能买|能不能买|还可以买|还能投保|能不能投保|"
    r"还能推荐|能推荐吗|可以推荐吗|暂停销售|还有得卖|还有卖|销售状态|还能卖|能不能卖|还在销售|还卖不卖|还可以卖"
)
# A case's standard sections, by what the question asks about the case.
_CASE_SECTIONS = (
    (re.compile(r"怎么判|判了|判决|结果|最后|怎么处理|如何处理|赔了多少|实付|支持吗|胜诉|败诉"), ("判决结果", "处理结果", "调解意见")),
    (re.compile(r"依据|理由|为什么|法院认为|法院怎么认定|认定|哪条法律"), ("法院认为", "调解意见")),
    (re.compile(r"争议|焦点"), ("争议焦点",)),
    (re.compile(r"启示|提示|点评|经纪人应|注意什么"), ("风险提示", "律师点评", "经验启示")),
)
# Quantity questions and the units a good answer sentence carries.
_UNITS = (
    (re.compile(r"多少种|几种|哪几种"), r"\d+\s*种|[一二三四五六七八九十百]+种"),
    (re.compile(r"几次|多少次"), r"\d+\s*次|[一二三四五六七八九十]+次"),
    (re.compile(r"多少天|几天|几日|多少日|多久|多长时间|多长|时限|期限|期间|时效|过了"), r"\d+\s*(?:日|天|个月|年)|[一二三四五六七八九十百]+(?:日|天|个月|年)"),
    (re.compile(r"多少岁|几岁|多大|年龄"), r"\d+\s*周?岁|出生满\d+日"),
    (re.compile(r"几年|多少年"), r"\d+\s*年|[一二三四五六七八九十]+年"),
    # a rate of growth before money: 有效保额每年按多少增长 asks a percentage, not an amount
    (re.compile(r"(?:涨|增长|递增|增加|上涨)多少|多少(?:的)?(?:涨幅|增长|递增)|涨幅|增长率|递增率|按多少(?:比例)?(?:增长|递增|涨)"),
     r"\d+(?:\.\d+)?\s*[%％]"),
    (re.compile(r"多少钱|多少元|多少万|金额|保额|限额|免赔额|赔了多少|实付"), r"\d[\d,，.]*\s*(?:万?元)"),
    (re.compile(r"[赔付领贷报给]多少|给付多少|能贷多少|按多少"), r"\d+(?:\.\d+)?\s*[%％]|\d[\d,，.]*\s*万?元"),
    (re.compile(r"比例|几成|百分之|多少%|利率|按多少|的多少"), r"\d+(?:\.\d+)?\s*[%％]"),
)
# A name with a version year (泰康尊享2024, 平安福21的…): names a product even when the catalog does not know it.
_VERSIONED_NAME = re.compile(r"([\u4e00-\u9fffA-Za-z]{2,12}?)((?:19|20)\d{2}|\d{2})(?=\s*(?:版|款|的|还|能|可|是|有|在|怎|多|要|$|[，,。？?！!\s]))")
_NAME_STOP = re.compile(r"(?:第|超过|满|前|后|年|月|日|共|约|近|过去|最近|未满|不满|已满)$")


_DEFINITION = re.compile(r"定义|是什么意思|什么是|是什么|指什么|含义|概念|何谓|何为|什么叫|是指|怎么算|怎样算|算不算|怎么认定|如何认定|怎么界定|如何界定")


@dataclass(frozen=True)
class Intent:
    doc_types: tuple[str, ...] = ()
    status: bool = False
    definition: bool = False
    statute: bool = False  # the question says 法律 (the statute, not its judicial interpretation)
    case_sections: tuple[str, ...] = ()
    unit: re.Pattern[str] | None = None

    @property
    def doc_type(self) -> str | None:
        return self.doc_types[0] if self.doc_types else None


def understand(question: str) -> Intent:
    doc_types = tuple(doc_type for pattern, doc_type in _DOC_TYPES if pattern.search(question))
    sections: tuple[str, ...] = ()
    for pattern, names in _CASE_SECTIONS:
        if pattern.search(question):
            sections = names
            break
    unit = None
    for pattern, unit_pattern in _UNITS:
        if pattern.search(question):
            unit = re.compile(unit_pattern)
            break
    return Intent(
        doc_types=doc_types,
        status=bool(_STATUS.search(question)),
        definition=bool(_DEFINITION.search(question)),
        statute="法律" in question,
        case_sections=sections,
        unit=unit,
    )


def asked_versions(question: str) -> list[tuple[str, str]]:
    """(name, four-digit year) for each product name written with a version (康宁2021版, 康宁19款)."""
    out = []
    for m in _VERSIONED_NAME.finditer(question):
        name, year = m.group(1), m.group(2)
        if _NAME_STOP.search(name):
            continue
        out.append((name, year if len(year) == 4 else ("20" if int(year) < 70 else "19") + year))
    return out


_ASKED_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)\s*(?=年|版|款|备案|[\]］】〕)）]|的)|(?<![\d.])(\d{2})(?=\s*(?:版|款))")


def asked_years(question: str) -> set[str]:
    """What a question names of a filing: years (2011版, 2018年的, 19款 → 2011, 2018, 2019) and
    filing numbers (021号那版 → 021号)."""
    years = {y for _, y in asked_versions(question)}
    years |= {f"{n}号" for n in re.findall(r"(?<!\d)(\d{3})\s*号", question)}
    for m in _ASKED_YEAR.finditer(question):
        if m.group(1):
            years.add(m.group(1))
        elif m.group(2):
            years.add(("20" if int(m.group(2)) < 70 else "19") + m.group(2))
    return years


def versioned_names(question: str) -> list[str]:
    """Product-like names with a version (泰康尊享2024 → 泰康尊享); the caller checks whether the catalog knows them."""
    out = []
    for m in _VERSIONED_NAME.finditer(question):
        name = m.group(1)
        if _NAME_STOP.search(name):
            continue
        out.append(name)
    return out
