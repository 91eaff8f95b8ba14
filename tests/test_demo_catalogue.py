"""The demo hall's catalogue looks like a real one: limits, fees, windows, centers."""

from __future__ import annotations

import pytest

from monitor.demo.catalogue import build_catalogue
from monitor.demo.people import check_digit, new_applicant


@pytest.mark.parametrize("centers", [1, 2, 3])
def test_about_thirty_windows_shared_by_ten_departments(centers: int) -> None:
    catalogue = build_catalogue(centers)
    assert len(catalogue.centers) == centers
    assert len(catalogue.departments) == 10
    assert 28 <= len(catalogue.windows) <= 32
    for center in catalogue.centers:
        for department in catalogue.departments:
            assert catalogue.windows_of(center.code, department.code), department.code
    codes = [w.code for w in catalogue.windows]
    assert len(codes) == len(set(codes))


def test_a_hundred_items_with_realistic_limits_and_mostly_no_fee() -> None:
    items = build_catalogue().items
    assert len(items) == 100
    assert len({i.code for i in items}) == 100
    for item in items:
        assert item.promised_limit_days <= item.statutory_limit_days, item.code
        if not item.immediate:
            assert 1 <= item.promised_limit_days <= 20, item.code
            assert sum(item.step_limits()) >= item.promised_limit_days
    immediate = sum(i.immediate for i in items)
    assert 20 <= immediate <= 40
    free = sum(i.fee_standard_fen == 0 for i in items)
    assert free >= 85  # 行政许可法 art. 58: free unless a law says otherwise
    abolished = [i for i in items if i.fee_abolished_on is not None]
    assert len(abolished) == 1 and not abolished[0].charges_fee


def test_each_center_has_a_designated_and_a_different_basic_account() -> None:
    centers = build_catalogue(3).centers
    accounts = [c.designated_account for c in centers] + [c.basic_account for c in centers]
    assert len(set(accounts)) == 6


def test_centers_are_one_to_three() -> None:
    with pytest.raises(ValueError, match=r"centers must be 1\.\.3"):
        build_catalogue(4)


def test_fictitious_id_numbers_are_well_formed() -> None:
    import random

    rng = random.Random(5)
    for _ in range(200):
        applicant = new_applicant(rng)
        number = applicant.id_number
        assert len(number) == 18 and number[:17].isdigit()
        assert check_digit(number[:17]) == number[17]
        assert 2 <= len(applicant.name) <= 3
    # GB 11643's published example: 11010519491231002X.
    assert check_digit("11010519491231002") == "X"
