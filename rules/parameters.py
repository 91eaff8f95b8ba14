"""Rule parameters: thresholds and grace periods with defaults, overridable per item or department.

Resolution order for every parameter: the item's override, then its department's
override, then the global value. The configuration's ``rules:`` section is this model.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OverdueOverride(_Strict):
    """Per-item or per-department values; unset fields fall through to the next level."""

    due_soon_days: Annotated[int, Field(ge=0)] | None = None
    due_soon_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    due_soon_min_days: Annotated[int, Field(ge=0)] | None = None
    warn_immediate: bool | None = None


class Overrides(_Strict):
    items: dict[str, OverdueOverride] = Field(default_factory=dict)
    departments: dict[str, OverdueOverride] = Field(default_factory=dict)


class RuleParameters(_Strict):
    """Global defaults of the overdue family and the overrides that refine them."""

    # Yellow card when remaining working days <= max(min_days, ceil(ratio * limit)),
    # unless a fixed number of days is set for the item or department.
    due_soon_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    due_soon_min_days: Annotated[int, Field(ge=0)] = 1
    due_soon_days: Annotated[int, Field(ge=0)] | None = None
    # Immediate items (即办件) are due the same day; warning on every one of them while
    # it is being served is noise, so by default they only get the red card.
    warn_immediate: bool = False
    overrides: Overrides = Field(default_factory=Overrides)

    def _levels(self, item: str, department: str | None) -> list[OverdueOverride]:
        levels = [self.overrides.items.get(item)]
        if department is not None:
            levels.append(self.overrides.departments.get(department))
        return [level for level in levels if level is not None]

    def _resolve(self, field: str, item: str, department: str | None) -> Any:
        for override in self._levels(item, department):
            value = getattr(override, field)
            if value is not None:
                return value
        return getattr(self, field)

    def due_soon_threshold(self, item: str, department: str | None, limit_days: int) -> int:
        """Remaining working days at or below which a case gets the yellow card.

        The most specific level that says anything about the threshold decides: an item
        with its own ratio is not overruled by a fixed number of days for its department.
        """
        for override in self._levels(item, department):
            if override.due_soon_days is not None:
                return override.due_soon_days
            if override.due_soon_ratio is not None or override.due_soon_min_days is not None:
                break
        else:
            if self.due_soon_days is not None:
                return self.due_soon_days
        ratio = self._resolve("due_soon_ratio", item, department)
        minimum = self._resolve("due_soon_min_days", item, department)
        # round() first so that 0.14 * 50 is 7, not 7.000000000000001 -> 8.
        return max(int(minimum), math.ceil(round(float(ratio) * limit_days, 9)))

    def warns_immediate(self, item: str, department: str | None) -> bool:
        return bool(self._resolve("warn_immediate", item, department))
