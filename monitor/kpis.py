"""The monthly performance figures (绩效指标) of a hall, defined once for /metrics and reports.

A *period* is a span of hall-local time: a calendar month, or the month to date. All
limits and durations are **working days**, counted as DESIGN.md §1 counts deadlines
(the acceptance day not counted, special-procedure days excluded).

Populations:

* **accepted** — cases accepted (受理) in the period;
* **decided** — cases concluded (办结) in the period with a decision (approved, denied,
  forwarded, or no result given); withdrawn, refused, returned and void cases end
  without a decision and are in neither the numerator nor the denominator of a
  timeliness figure;
* **ratings** — evaluations (好差评) given in the period.

Figures (each ``None`` when its denominator is zero):

* 办结率 (conclusion ratio) = accepted cases concluded by the end of the period
  (any result) / accepted;
* 按时办结率 (on-time ratio) = decided cases concluded within their promised deadline
  / decided;
* 即办件比例 (immediate ratio) = accepted cases of immediate items (即办件) / accepted;
* 现场办结率 (on-site ratio) = accepted cases decided on their acceptance day (当场办结,
  the applicant leaves with the decision) / accepted;
* 承诺提速率 (promised speed-up) = Σ(statutory − promised) / Σ statutory over the
  decided cases whose statutory limit is above zero, with each case's item limits as
  catalogued when it was judged: how much shorter the published promise is than the
  law, weighted by the cases actually handled;
* 实际提速率 (actual speed-up) = Σ(statutory − used) / Σ statutory over the same cases,
  where *used* is the working days from acceptance to conclusion less the days of
  special procedures: how much faster the hall actually was than the law (negative when
  it was slower);
* 满意率 (satisfaction ratio) = ratings 1–2 (非常满意, 满意) / all ratings.
"""

from __future__ import annotations

from dataclasses import dataclass


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass
class MonthFigures:
    """Counts behind the figures of one period (and one place), filled case by case."""

    accepted: int = 0
    accepted_concluded: int = 0
    immediate: int = 0
    on_site: int = 0
    decided: int = 0
    decided_on_time: int = 0
    speedup_cases: int = 0
    statutory_days: int = 0
    promised_days: int = 0
    used_days: int = 0
    ratings: int = 0
    satisfied: int = 0

    def add_accepted(self, *, concluded: bool, immediate: bool, on_site: bool) -> None:
        """A case accepted in the period: concluded by its end? immediate item? 当场办结?"""
        self.accepted += 1
        self.accepted_concluded += concluded
        self.immediate += immediate
        self.on_site += on_site

    def add_decided(
        self, *, on_time: bool, statutory_days: int, promised_days: int, used_days: int | None
    ) -> None:
        """A case decided in the period, with its limits and the working days it took."""
        self.decided += 1
        self.decided_on_time += on_time
        if statutory_days > 0 and used_days is not None:
            self.speedup_cases += 1
            self.statutory_days += statutory_days
            self.promised_days += promised_days
            self.used_days += used_days

    def add_rating(self, level: int) -> None:
        self.ratings += 1
        self.satisfied += level <= 2

    @property
    def conclusion_ratio(self) -> float | None:
        return ratio(self.accepted_concluded, self.accepted)

    @property
    def on_time_ratio(self) -> float | None:
        return ratio(self.decided_on_time, self.decided)

    @property
    def immediate_ratio(self) -> float | None:
        return ratio(self.immediate, self.accepted)

    @property
    def on_site_ratio(self) -> float | None:
        return ratio(self.on_site, self.accepted)

    @property
    def promised_speedup_ratio(self) -> float | None:
        return ratio(self.statutory_days - self.promised_days, self.statutory_days)

    @property
    def actual_speedup_ratio(self) -> float | None:
        return ratio(self.statutory_days - self.used_days, self.statutory_days)

    @property
    def satisfaction_ratio(self) -> float | None:
        return ratio(self.satisfied, self.ratings)
