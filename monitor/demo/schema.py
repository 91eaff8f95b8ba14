"""The simulated hall's vendor tables: approval system, window system, bank feed, ground truth.

The approval tables are those of ``examples/vendor_pinyin/schema.sql`` (GB/T 39046 with
provincial pinyin codes: SXML, SL_BJ, SP_HJ, TBCX, SF_JKD). Beside them the window
system's queue and evaluator tables (PD_QH 排队取号, HCP_PJ 好差评) and the bank's feed of
the fee accounts' transactions (YH_JYMX 银行交易明细). Times are ``YYYYMMDDhhmmss``
strings in Beijing time and amounts are yuan with two decimals, as vendors store them;
identity columns hold fictitious names and ID numbers, which jiancha hashes on reading.

``SIM_GROUND_TRUTH`` is the simulator's own record of what it injected and when each
finding must be visible; the daemon never reads it, tests compare findings against it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table

metadata = MetaData()


# Names are never quoted, as in the example's plain SQL: PostgreSQL folds them to lower
# case, MariaDB and SQLite keep them, and the daemon's unquoted SELECTs find them in all.


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(name, metadata, *columns, quote=False)


def _text(name: str, length: int = 32, **kw: Any) -> Column[Any]:
    return Column(name, String(length), quote=False, **kw)


def _time(name: str, **kw: Any) -> Column[Any]:
    return Column(name, String(14), quote=False, **kw)


def _yuan(name: str) -> Column[Any]:
    return Column(name, Numeric(12, 2), quote=False)


def _integer(name: str, **kw: Any) -> Column[Any]:
    return Column(name, Integer, quote=False, **kw)


SXML = _table(  # 事项目录
    "SXML",
    _text("SXBM", primary_key=True),  # 事项编码
    _text("SXMC", 200, nullable=False),  # 事项名称
    _text("BMBM"),  # 部门编码
    _text("BJLX", 1),  # 办件类型 1 即办件 2 承诺件
    _text("FDSX", 8),  # 法定时限（工作日）
    _text("CNSX", 8),  # 承诺时限（工作日）
    _yuan("SFBZ"),  # 收费标准（元）
    _text("QXSFRQ", 8),  # 取消收费日期
    _text("TBCXSX", 8),  # 特别程序最长时限（工作日）
    _time("GXSJ", nullable=False),  # 更新时间
)

SL_BJ = _table(  # 受理/办结
    "SL_BJ",
    _text("SBLSH", 40, primary_key=True),  # 申办流水号
    _text("SXBM"),
    _text("ZXBM"),  # 中心编码
    _text("BMBM"),
    _text("CKBM"),  # 窗口编码
    _text("SQRMC", 100),  # 申请人名称 (sensitive)
    _text("SQRZJHM", 40),  # 申请人证件号码 (sensitive)
    _time("SBSJ"),  # 申报时间
    _time("SLSJ"),  # 受理时间
    _text("SLZTDM", 1),  # 受理状态 1 受理 2 不受理
    _time("CNBJSJ"),  # 承诺办结时间
    _time("BJSJ"),  # 办结时间
    _text("BJJGDM", 1),  # 办结结果
    _time("LRSJ"),  # 录入时间
    _yuan("SFJE"),  # 应收费金额（元）
    _time("GXSJ", nullable=False),
)

SP_HJ = _table(  # 审批环节
    "SP_HJ",
    _text("SBLSH", 40, primary_key=True),
    _integer("HJXH", primary_key=True, autoincrement=False),  # 环节序号
    _text("SPHJDM", 1),  # 1 承办 2 审核 3 批准
    _text("HJMC", 50),
    _time("KSSJ"),
    _time("JSSJ"),
    _text("HJSX", 8),  # 环节时限（工作日）
    _time("GXSJ", nullable=False),
)

TBCX = _table(  # 特别程序
    "TBCX",
    _text("SBLSH", 40, primary_key=True),
    _integer("TBCXXH", primary_key=True, autoincrement=False),
    _text("TBCXZL", 1),  # 1 补正 2 听证 3 检验检测 4 专家评审 5 现场核查
    _time("TBCXKSRQ"),
    _time("TBCXJSRQ"),
    _time("GXSJ", nullable=False),
)

SF_JKD = _table(  # 缴款单
    "SF_JKD",
    _text("JKDH", 40, primary_key=True),  # 缴款单号
    _text("SBLSH", 40, nullable=False),
    _yuan("JKJE"),
    _time("GXSJ", nullable=False),
)

PD_QH = _table(  # 排队取号 (window system)
    "PD_QH",
    _text("QHXH", 40, primary_key=True),  # 取号序号 (unique serial)
    _text("PH", 8),  # 票号 as printed
    _text("ZXBM"),
    _text("BMBM"),
    _text("CKBM"),
    _text("YWBM"),  # 业务编码 (item chosen at the kiosk)
    _text("SFZH", 40),  # 身份证号 swiped at the kiosk (sensitive)
    _time("QHSJ"),  # 取号时间
    _time("JHSJ"),  # 叫号时间
    _time("JSSJ"),  # 办理结束时间
    _text("ZT", 1),  # 0 等候 1 叫号 2 办结 3 过号 4 取消
    _text("ZXBZ", 1),  # 咨询标志
    _time("GXSJ", nullable=False),
)

HCP_PJ = _table(  # 好差评 (evaluators)
    "HCP_PJ",
    _text("PJBH", 40, primary_key=True),  # 评价编号
    _text("ZXBM"),
    _text("BMBM"),
    _text("CKBM"),
    _text("GH", 16),  # 工号
    _text("SBLSH", 40),
    _time("PJSJ"),
    _text("MYD", 1),  # 满意度 1 非常满意 … 5 非常不满意
    _text("PJNR", 200),
    _time("ZGFKSJ"),  # 整改反馈时间
    _time("GXSJ", nullable=False),
)

YH_JYMX = _table(  # 银行交易明细 (the fee accounts' bank feed)
    "YH_JYMX",
    _text("JYLSH", 40, primary_key=True),  # 交易流水号
    _text("SKZH", 40, nullable=False),  # 收款账号
    _yuan("JYJE"),  # 交易金额（元）
    _time("JYSJ"),  # 交易时间
    _text("JKDH", 40),  # 缴款单号
    _text("YWBH", 40),  # 业务编号 typed into the transfer
    _text("DFHM", 100),  # 对方户名 (sensitive)
    _time("GXSJ", nullable=False),
)

SIM_GROUND_TRUTH = _table(  # what the simulator injected, and when it must be visible
    "SIM_GROUND_TRUTH",
    _text("ID", 200, primary_key=True),
    _text("VIOLATION", 40, nullable=False),  # what was injected (or "warning": natural)
    _integer("INJECTED", nullable=False),  # 1 injected, 0 a natural yellow card
    _text("RULE", 60, nullable=False),
    _text("SUBJECT_KIND", 20, nullable=False),
    _text("SUBJECT_ID", 60, nullable=False),
    _text("CASE_ID", 40),
    _text("CENTER"),
    _text("DEPARTMENT"),
    _text("WINDOW_CODE"),
    _text("ITEM"),
    _text("EXPECTED_FROM", 32, nullable=False),  # ISO 8601 with offset, inclusive
    _text("EXPECTED_UNTIL", 32),  # exclusive; empty: for good
)

SIM_RUN = _table(  # the simulation's own bookkeeping: seed, first day, produced until
    "SIM_RUN",
    _text("NAME", 32, primary_key=True),
    _text("VALUE", 64),
)

HALL_TABLES = (SXML, SL_BJ, SP_HJ, TBCX, SF_JKD, PD_QH, HCP_PJ, YH_JYMX)
TABLES = (*HALL_TABLES, SIM_GROUND_TRUTH, SIM_RUN)
