"""The demo hall's catalogue: centers, departments, windows, service items and fee accounts.

A fictitious but realistic city: up to three service centers (a city center and two
district centers), ten window departments (窗口单位) and a hundred catalogued items
(事项) with statutory and promised limits in working days as a real catalogue states
them (即办件 with a promised limit of 0; 承诺件 with 1–20 working days), fee standards
that are zero for most items (行政许可法 art. 58: a licence is free unless a law says
otherwise), a fee that was abolished (取消收费), and the longest special procedure each
item allows. Each center has one designated fee account (收费专户) and one basic account
that fees must never reach.

Everything here is data and deterministic: the same spec gives the same hall.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# (code, name, ticket letter, share of the hall's arrivals)
DEPARTMENTS: tuple[tuple[str, str, str, float], ...] = (
    ("GA", "公安局", "A", 0.18),
    ("SCJ", "市场监督管理局", "B", 0.15),
    ("BDC", "不动产登记中心", "C", 0.14),
    ("RSJ", "人力资源和社会保障局", "D", 0.12),
    ("YBJ", "医疗保障局", "E", 0.10),
    ("SWJ", "税务局", "F", 0.10),
    ("ZJJ", "住房和城乡建设局", "G", 0.06),
    ("MZJ", "民政局", "H", 0.05),
    ("JTJ", "交通运输局", "J", 0.05),
    ("WJW", "卫生健康委员会", "K", 0.05),
)

# Per department, its items: (name, statutory limit, promised limit, fee standard in yuan,
# longest special procedure in working days or None). Promised limit 0: 即办件.
_ITEMS: dict[str, tuple[tuple[str, int, int, str, int | None], ...]] = {
    "GA": (
        ("居民身份证换领", 60, 20, "20.00", None),
        ("户籍证明开具", 5, 0, "0", None),
        ("出生登记", 5, 0, "0", None),
        ("户口迁移", 20, 5, "0", 10),
        ("普通护照签发", 15, 7, "120.00", None),
        ("往来港澳通行证签发", 15, 7, "60.00", None),
        ("居住证申领", 15, 10, "0", None),
        ("临时居民身份证明", 1, 0, "0", None),
        ("无犯罪记录证明", 5, 1, "0", None),
        ("剧毒化学品购买许可", 3, 2, "0", 5),
    ),
    "SCJ": (
        ("食品经营许可", 20, 10, "0", 10),
        ("个体工商户设立登记", 15, 0, "0", None),
        ("企业设立登记", 15, 1, "0", None),
        ("企业变更登记", 15, 1, "0", None),
        ("营业执照副本补领", 15, 0, "10.00", None),
        ("药品经营许可", 30, 15, "0", 10),
        ("医疗器械经营许可", 30, 15, "0", 10),
        ("特种设备使用登记", 15, 5, "0", 5),
        ("计量器具型式批准", 20, 15, "0", 20),
        ("工业产品生产许可", 20, 12, "0", 20),
    ),
    "BDC": (
        ("国有建设用地使用权及房屋所有权首次登记", 30, 5, "80.00", 10),
        ("国有建设用地使用权及房屋所有权转移登记", 30, 5, "80.00", 10),
        ("抵押权首次登记", 30, 3, "80.00", 10),
        ("抵押权注销登记", 30, 1, "0", None),
        ("预告登记", 30, 3, "0", None),
        ("更正登记", 30, 10, "0", 10),
        ("不动产登记资料查询", 1, 0, "0", None),
        ("非住宅转移登记", 30, 5, "550.00", 10),
        ("不动产权证书补发", 30, 10, "10.00", 10),
        ("地役权登记", 30, 10, "0", 10),
    ),
    "RSJ": (
        ("社会保障卡申领", 20, 10, "0", None),
        ("职工参保登记", 5, 0, "0", None),
        ("失业保险金申领", 20, 10, "0", 10),
        ("养老保险待遇核定", 20, 15, "0", 10),
        ("工伤认定", 60, 20, "0", 20),
        ("劳务派遣经营许可", 20, 15, "0", 10),
        ("人力资源服务许可", 20, 15, "0", 10),
        ("就业失业登记", 5, 0, "0", None),
        ("技能人才评价证书查询", 1, 0, "0", None),
        ("社会保险关系转移", 15, 10, "0", None),
    ),
    "YBJ": (
        ("医保参保登记", 5, 0, "0", None),
        ("异地就医备案", 5, 0, "0", None),
        ("门诊慢特病认定", 20, 10, "0", 10),
        ("医疗费用手工报销", 30, 20, "0", 10),
        ("医保关系转移接续", 15, 10, "0", None),
        ("定点医药机构申请", 60, 20, "0", 20),
        ("生育津贴申领", 20, 10, "0", None),
        ("医保个人账户一次性支取", 20, 10, "0", None),
        ("参保信息查询打印", 1, 0, "0", None),
        ("长期护理保险待遇申请", 30, 15, "0", 10),
    ),
    "SWJ": (
        ("发票领用", 5, 0, "0", None),
        ("税务登记信息确认", 5, 0, "0", None),
        ("增值税专用发票最高开票限额审批", 20, 10, "0", 10),
        ("纳税证明开具", 5, 0, "0", None),
        ("个人所得税完税证明", 1, 0, "0", None),
        ("车辆购置税申报", 5, 0, "0", None),
        ("退抵税费", 20, 10, "0", 10),
        ("税收优惠备案", 20, 5, "0", None),
        ("注销税务登记", 20, 10, "0", 10),
        ("房产交易契税申报", 5, 0, "0", None),
    ),
    "ZJJ": (
        ("建筑工程施工许可", 15, 7, "0", 10),
        ("建设工程竣工验收备案", 15, 5, "0", None),
        ("商品房预售许可", 20, 10, "0", 10),
        ("建筑业企业资质核准", 20, 15, "0", 20),
        ("房屋建筑工程消防验收", 15, 10, "0", 10),
        ("城市建筑垃圾处置核准", 20, 7, "0", None),
        ("燃气经营许可", 20, 15, "0", 10),
        ("房地产开发企业资质核定", 20, 15, "0", 10),
        ("拆除工程备案", 5, 1, "0", None),
        ("公共租赁住房资格申请", 30, 20, "0", 10),
    ),
    "MZJ": (
        ("婚姻登记", 1, 0, "0", None),
        ("补领婚姻登记证", 30, 10, "0", None),
        ("社会团体成立登记", 60, 20, "0", 20),
        ("民办非企业单位成立登记", 60, 20, "0", 20),
        ("养老机构备案", 5, 1, "0", None),
        ("最低生活保障审核", 30, 20, "0", 10),
        ("殡葬设施建设审批", 20, 15, "0", 10),
        ("地名命名审批", 30, 20, "0", 10),
        ("困难残疾人生活补贴申请", 20, 15, "0", None),
        ("慈善组织认定", 20, 15, "0", 10),
    ),
    "JTJ": (
        ("道路运输经营许可", 20, 10, "0", 10),
        ("道路运输从业人员资格证", 10, 5, "0", None),
        ("网络预约出租汽车运输证", 20, 10, "0", None),
        ("机动车维修经营备案", 5, 1, "0", None),
        ("超限运输车辆行驶公路许可", 5, 2, "0", None),
        ("公路占用挖掘许可", 20, 10, "0", 10),
        ("道路运输证换发", 10, 0, "0", None),
        ("驾驶员培训机构备案", 5, 1, "0", None),
        ("港口经营许可", 30, 20, "0", 20),
        ("出租汽车驾驶员从业资格注册", 5, 0, "0", None),
    ),
    "WJW": (
        ("医疗机构执业登记", 45, 20, "0", 20),
        ("医师执业注册", 20, 10, "0", None),
        ("护士执业注册", 20, 10, "0", None),
        ("公共场所卫生许可", 20, 10, "0", 10),
        ("放射诊疗许可", 20, 15, "0", 20),
        ("出生医学证明补发", 20, 10, "0", None),
        ("母婴保健技术服务执业许可", 20, 15, "0", 10),
        ("饮用水供水单位卫生许可", 20, 10, "0", 10),
        ("职业健康检查机构备案", 5, 1, "0", None),
        ("健康证明查询", 1, 0, "0", None),
    ),
}

# 营业执照副本补领工本费 was abolished (取消收费); charging it since is 擅自收费.
ABOLISHED_FEES: dict[tuple[str, int], dt.date] = {("SCJ", 5): dt.date(2025, 1, 1)}

# (code, name) of the centers a hall may have, in order.
CENTERS: tuple[tuple[str, str], ...] = (
    ("ZX01", "示范市市民服务中心"),
    ("ZX02", "东城区政务服务中心"),
    ("ZX03", "西城区政务服务中心"),
)

# Handling steps of a promised item (审批环节, GB/T 39046 SPHJDM 1 承办 2 审核 3 批准) and
# each step's share of the promised limit.
STEPS: tuple[tuple[str, str, float], ...] = (
    ("1", "承办", 0.5),
    ("2", "审核", 0.25),
    ("3", "批准", 0.25),
)


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    letter: str  # ticket prefix at the kiosk
    share: float  # of the center's arrivals


@dataclass(frozen=True)
class CatalogueItem:
    """A 事项 as the simulated approval system catalogues it (table SXML)."""

    code: str
    name: str
    department: str
    statutory_limit_days: int
    promised_limit_days: int
    fee_standard_fen: int
    fee_abolished_on: dt.date | None
    max_suspension_days: int | None
    popularity: float  # relative weight among its department's items

    @property
    def immediate(self) -> bool:
        return self.promised_limit_days == 0

    @property
    def charges_fee(self) -> bool:
        """Whether a case of this item is charged its standard fee."""
        return self.fee_standard_fen > 0 and self.fee_abolished_on is None

    def step_limits(self) -> tuple[int, ...]:
        """Each handling step's own limit; together at least the promised limit."""
        if self.immediate:
            return ()
        first = max(1, round(self.promised_limit_days * STEPS[0][2]))
        second = max(1, round(self.promised_limit_days * STEPS[1][2]))
        third = max(1, self.promised_limit_days - first - second)
        return (first, second, third)


@dataclass(frozen=True)
class Window:
    code: str
    center: str
    department: str


@dataclass(frozen=True)
class Center:
    code: str
    name: str
    designated_account: str  # 收费专户
    basic_account: str  # the center's ordinary account: fees must never land here


@dataclass(frozen=True)
class Catalogue:
    centers: tuple[Center, ...]
    departments: tuple[Department, ...]
    items: tuple[CatalogueItem, ...]
    windows: tuple[Window, ...]

    def items_of(self, department: str) -> tuple[CatalogueItem, ...]:
        return tuple(i for i in self.items if i.department == department)

    def windows_of(self, center: str, department: str) -> tuple[Window, ...]:
        return tuple(w for w in self.windows if w.center == center and w.department == department)


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def build_catalogue(centers: int = 2, windows: int = 30) -> Catalogue:
    """The hall: ``centers`` centers (1–3) sharing ``windows`` windows among departments.

    Every center hosts every department; a department gets windows in proportion to its
    share of the arrivals, at least one per center.
    """
    if not 1 <= centers <= len(CENTERS):
        raise ValueError(f"centers must be 1..{len(CENTERS)}, got {centers}")
    departments = tuple(Department(*d) for d in DEPARTMENTS)
    items: list[CatalogueItem] = []
    for department in departments:
        for n, (name, statutory, promised, fee, cap) in enumerate(_ITEMS[department.code], 1):
            items.append(
                CatalogueItem(
                    code=f"{department.code}-{n:03d}",
                    name=name,
                    department=department.code,
                    statutory_limit_days=statutory,
                    promised_limit_days=promised,
                    fee_standard_fen=_fen(fee),
                    fee_abolished_on=ABOLISHED_FEES.get((department.code, n)),
                    max_suspension_days=cap,
                    popularity=1 / n,  # the first items of a department are the busy ones
                )
            )
    hall_centers: list[Center] = []
    hall_windows: list[Window] = []
    per_center = max(len(departments), windows // centers)
    for index, (code, name) in enumerate(CENTERS[:centers], 1):
        hall_centers.append(
            Center(
                code=code,
                name=name,
                designated_account=f"3301 0201 0000 {index:04d} 0001",
                basic_account=f"3301 0201 0000 {index:04d} 0999",
            )
        )
        counts = _apportion(per_center, [d.share for d in departments])
        number = 0
        for department, count in zip(departments, counts, strict=True):
            for _ in range(count):
                number += 1
                hall_windows.append(Window(f"{code}-W{number:02d}", code, department.code))
    return Catalogue(tuple(hall_centers), departments, tuple(items), tuple(hall_windows))


def _apportion(total: int, shares: list[float]) -> list[int]:
    """``total`` seats split by ``shares`` (largest remainder), at least one each."""
    base = [1] * len(shares)
    rest = total - len(shares)
    quotas = [s / sum(shares) * rest for s in shares]
    counts = [b + int(q) for b, q in zip(base, quotas, strict=True)]
    remainders = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - int(quotas[i])), i))
    for i in remainders[: total - sum(counts)]:
        counts[i] += 1
    return counts
