"""Fictitious applicants: Chinese names and well-formed resident ID numbers.

The ID numbers follow GB 11643 (region, birth date, sequence, ISO 7064 MOD 11-2 check
digit) so that they look exactly like what a hall's database holds — which is what the
privacy tests need: jiancha must hash them on reading and never let one out.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红梅飞鑫波斌宇浩凯健俊帆帅旭宁博瑞雪琳晨欣怡子涵梓轩佳琪思远天佑一诺雨桐浩然"  # noqa: E501
_REGIONS = ("330102", "330105", "330106", "330108", "330110", "330182", "330381", "320102")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class Applicant:
    name: str
    id_number: str


def check_digit(first17: str) -> str:
    """The GB 11643 check character of an ID number's first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def new_applicant(rng: random.Random) -> Applicant:
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
    first17 = f"{rng.choice(_REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return Applicant(name, first17 + check_digit(first17))
