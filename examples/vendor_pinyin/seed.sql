-- 示例大厅数据：评估时刻 2026-10-09 10:00 (+08:00)，国庆假期之后。
-- Example hall rows. Expected findings at 2026-10-09T10:00:00+08:00 are worked out by
-- hand in tests/test_scan_example.py. Applicant names and ID numbers are fictitious;
-- they must never appear in any output.
-- 2026 calendar around here: Sep 20 (Sun) and Oct 10 (Sat) are make-up working days;
-- Sep 25 (Mid-Autumn) and Oct 1-7 (National Day) are off.

INSERT INTO SXML VALUES ('330100-001', '食品经营许可', 'SCJ', '2', '20', '10', 0.00, NULL, '10', '20260901080000');
INSERT INTO SXML VALUES ('330100-002', '个体工商户设立登记', 'SCJ', '1', '15', '0', 0.00, NULL, NULL, '20260901080000');
INSERT INTO SXML VALUES ('330100-003', '建筑工程施工许可', 'ZJJ', '2', '7', '3', 0.00, NULL, NULL, '20260901080000');
INSERT INTO SXML VALUES ('330100-004', '不动产登记', 'BDC', '2', '30', '5', 80.00, NULL, NULL, '20260901080000');
INSERT INTO SXML VALUES ('330100-005', '药品经营许可', 'SCJ', '2', '15', '7', 0.00, NULL, '5', '20260901080000');

-- BJ001 due soon: 10 days from Mon Sep 21 -> Mon Oct 12; 2 working days left (Oct 10, 12).
INSERT INTO SL_BJ VALUES ('BJ001', '330100-001', 'HZ01', 'SCJ', 'W03', '张三', '330106199001011234', '20260921090000', '20260921093000', '1', NULL, NULL, NULL, '20260921093100', 0.00, '20260921093100');
-- BJ002 overdue: 10 days from Mon Sep 14 -> Mon Sep 28, still open.
INSERT INTO SL_BJ VALUES ('BJ002', '330100-001', 'HZ01', 'SCJ', 'W03', '李四', '330106198502023456', '20260914095000', '20260914100000', '1', NULL, NULL, NULL, '20260914100100', 0.00, '20260914100100');
-- BJ003 concluded late: 3 days from Thu Sep 17 -> Mon Sep 21 (Sun Sep 20 works), concluded Sep 28.
INSERT INTO SL_BJ VALUES ('BJ003', '330100-003', 'HZ01', 'ZJJ', 'W07', '王五建筑有限公司', '91330106MA2AAAAA1X', '20260917145000', '20260917150000', '1', NULL, '20260928110000', '0', '20260917150200', 0.00, '20260928110000');
-- BJ004 overdue and beyond the statutory 7 days (Sep 15 promised, Sep 20 statutory).
INSERT INTO SL_BJ VALUES ('BJ004', '330100-003', 'HZ01', 'ZJJ', 'W07', '赵六', '330106197003034567', '20260910085000', '20260910090000', '1', NULL, NULL, NULL, '20260910090500', 0.00, '20260910090500');
-- BJ005 saved by a suspension: 补正 Sep 18 -> Oct 8 adds 9 working days, due Oct 15.
INSERT INTO SL_BJ VALUES ('BJ005', '330100-001', 'HZ01', 'SCJ', 'W03', '钱七', '330106199204045678', '20260914085500', '20260914090000', '1', NULL, NULL, NULL, '20260914090100', 0.00, '20261008090000');
-- BJ006 专家评审 open since Sep 22: 7 working days used, 5 allowed; suspended, so no card.
INSERT INTO SL_BJ VALUES ('BJ006', '330100-005', 'HZ01', 'SCJ', 'W04', '孙八医药有限公司', '91330106MA2BBBBB2Y', '20260921095000', '20260921100000', '1', NULL, NULL, NULL, '20260921100100', 0.00, '20260922090000');
-- BJ007 immediate item accepted this morning: due tonight, nothing yet.
INSERT INTO SL_BJ VALUES ('BJ007', '330100-002', 'HZ01', 'SCJ', 'W01', '周九', '330106199505056789', '20261009085500', '20261009090000', '1', NULL, NULL, NULL, '20261009090100', 0.00, '20261009090100');
-- BJ008 immediate item accepted yesterday afternoon, still open: red.
INSERT INTO SL_BJ VALUES ('BJ008', '330100-002', 'HZ01', 'SCJ', 'W01', '吴十', '330106198806067890', '20261008155500', '20261008160000', '1', NULL, NULL, NULL, '20261008160100', 0.00, '20261008160100');
-- BJ009 case on time, but its 审核 step (2 days from Sep 29 -> Oct 8) is overrunning.
INSERT INTO SL_BJ VALUES ('BJ009', '330100-001', 'HZ01', 'SCJ', 'W03', '郑十一', '330106199107078901', '20260928085000', '20260928090000', '1', NULL, NULL, NULL, '20260928090100', 0.00, '20260929100000');
-- BJ010 vendor promised Sep 29 (5 calendar days); the catalogue says Oct 9: mismatch -3.
INSERT INTO SL_BJ VALUES ('BJ010', '330100-004', 'HZ01', 'BDC', 'W09', '冯十二', '330106198908089012', '20260924095000', '20260924100000', '1', '20260929235959', NULL, NULL, '20260924100100', 80.00, '20260924100100');
-- BJ011 returned (退回): the clock stopped, never late.
INSERT INTO SL_BJ VALUES ('BJ011', '330100-001', 'HZ01', 'SCJ', 'W03', '陈十三', '330106199309099123', '20260831095000', '20260901100000', '1', NULL, '20260930100000', '1', '20260901100100', 0.00, '20260930100000');
-- BJ012 malformed acceptance time (month 13): rejected with bad_time.
INSERT INTO SL_BJ VALUES ('BJ012', '330100-001', 'HZ01', 'SCJ', 'W03', '褚十四', '330106199410109234', '20261345095000', '20261345100000', '1', NULL, NULL, NULL, NULL, 0.00, '20261008100000');
-- BJ013 item not in the catalogue: rejected with unknown_item.
INSERT INTO SL_BJ VALUES ('BJ013', '999999-999', 'HZ01', 'SCJ', 'W03', '卫十五', '330106199511119345', '20261008095000', '20261008100000', '1', NULL, NULL, NULL, '20261008100100', 0.00, '20261008100100');
-- BJ014 not accepted (不受理): not a case at all, filtered by the query.
INSERT INTO SL_BJ VALUES ('BJ014', '330100-001', 'HZ01', 'SCJ', 'W03', '蒋十六', '330106199612129456', '20260901095000', '20260901100000', '2', NULL, NULL, NULL, '20260901100100', 0.00, '20260901100100');
-- BJ015 accepted after the evaluation instant: does not exist yet at 10:00 on Oct 9.
INSERT INTO SL_BJ VALUES ('BJ015', '330100-002', 'HZ01', 'SCJ', 'W01', '沈十七', '330106199701019567', '20261009110000', '20261009113000', '1', NULL, NULL, NULL, '20261009113100', 0.00, '20261009113100');

INSERT INTO SP_HJ VALUES ('BJ009', 1, '1', '承办', '20260928090000', '20260929100000', '2', '20260929100000');
INSERT INTO SP_HJ VALUES ('BJ009', 2, '2', '审核', '20260929100000', NULL, '2', '20260929100000');
INSERT INTO SP_HJ VALUES ('BJ001', 1, '1', '承办', '20260921093000', NULL, '8', '20260921093100');
-- a step of a case nobody registered: rejected with unknown_case.
INSERT INTO SP_HJ VALUES ('BJ404', 1, '1', '承办', '20261008090000', NULL, '2', '20261008090000');

INSERT INTO TBCX VALUES ('BJ005', 1, '1', '20260918', '20261008', '20261008090000');
INSERT INTO TBCX VALUES ('BJ006', 1, '4', '20260922', NULL, '20260922090000');
