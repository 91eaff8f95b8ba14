-- 示例厂商库：GB/T 39046-2020 / 省级平台拼音字段风格的审批系统表结构。
-- Example vendor schema in the pinyin style of provincial platforms (DESIGN.md §3).
-- Portable SQL: runs unchanged on SQLite, PostgreSQL and MariaDB/MySQL.
-- Times are YYYYMMDDhhmmss strings in Beijing time, as many vendors store them.

-- 事项目录 (service item catalogue)
CREATE TABLE SXML (
    SXBM    VARCHAR(32)  NOT NULL PRIMARY KEY,  -- 事项编码
    SXMC    VARCHAR(200) NOT NULL,              -- 事项名称
    BMBM    VARCHAR(32),                        -- 部门编码
    BJLX    VARCHAR(1),                         -- 办件类型 1 即办件 2 承诺件
    FDSX    VARCHAR(8),                         -- 法定时限（工作日）
    CNSX    VARCHAR(8),                         -- 承诺时限（工作日）
    SFBZ    DECIMAL(12, 2),                     -- 收费标准（元）
    QXSFRQ  VARCHAR(8),                         -- 取消收费日期 YYYYMMDD
    TBCXSX  VARCHAR(8),                         -- 特别程序最长时限（工作日）
    GXSJ    VARCHAR(14)  NOT NULL               -- 更新时间
);

-- 受理/办结 (acceptance and conclusion, one row per case)
CREATE TABLE SL_BJ (
    SBLSH    VARCHAR(40)  NOT NULL PRIMARY KEY, -- 申办流水号
    SXBM     VARCHAR(32),                       -- 事项编码
    ZXBM     VARCHAR(32),                       -- 中心编码
    BMBM     VARCHAR(32),                       -- 受理部门编码
    CKBM     VARCHAR(32),                       -- 窗口编码
    SQRMC    VARCHAR(100),                      -- 申请人名称 (sensitive)
    SQRZJHM  VARCHAR(40),                       -- 申请人证件号码 (sensitive)
    SBSJ     VARCHAR(14),                       -- 申报时间
    SLSJ     VARCHAR(14),                       -- 受理时间
    SLZTDM   VARCHAR(1),                        -- 受理状态 1 受理 2 不受理
    CNBJSJ   VARCHAR(14),                       -- 承诺办结时间
    BJSJ     VARCHAR(14),                       -- 办结时间
    BJJGDM   VARCHAR(1),                        -- 办结结果 0 出证办结 1 退回 2 作废 3 删除 4 转报 5 补正超时驳回 6 办结
    LRSJ     VARCHAR(14),                       -- 录入时间
    SFJE     DECIMAL(12, 2),                    -- 应收费金额（元）
    GXSJ     VARCHAR(14)  NOT NULL              -- 更新时间
);

-- 审批环节 (handling steps)
CREATE TABLE SP_HJ (
    SBLSH   VARCHAR(40) NOT NULL,
    HJXH    INTEGER     NOT NULL,               -- 环节序号
    SPHJDM  VARCHAR(1),                         -- 1 承办 2 审核 3 批准
    HJMC    VARCHAR(50),                        -- 环节名称
    KSSJ    VARCHAR(14),                        -- 环节开始时间
    JSSJ    VARCHAR(14),                        -- 环节结束时间
    HJSX    VARCHAR(8),                         -- 环节时限（工作日）
    GXSJ    VARCHAR(14) NOT NULL,
    PRIMARY KEY (SBLSH, HJXH)
);

-- 特别程序 (special procedures that stop the clock)
CREATE TABLE TBCX (
    SBLSH     VARCHAR(40) NOT NULL,
    TBCXXH    INTEGER     NOT NULL,             -- 特别程序序号
    TBCXZL    VARCHAR(1),                       -- 种类 1 补正 2 听证 3 检验检测 4 专家评审 5 现场核查
    TBCXKSRQ  VARCHAR(14),                      -- 开始日期
    TBCXJSRQ  VARCHAR(14),                      -- 结束日期（空：仍在进行）
    GXSJ      VARCHAR(14) NOT NULL,
    PRIMARY KEY (SBLSH, TBCXXH)
);

-- 缴款单 (payment notices: the 缴款单号 issued for a case's fee)
CREATE TABLE SF_JKD (
    JKDH    VARCHAR(40) NOT NULL PRIMARY KEY,   -- 缴款单号 / 缴款码
    SBLSH   VARCHAR(40) NOT NULL,               -- 申办流水号
    JKJE    DECIMAL(12, 2),                     -- 应缴金额（元）
    GXSJ    VARCHAR(14) NOT NULL
);
