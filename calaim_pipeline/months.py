"""Month arithmetic on 'YYYY-MM' strings (the extract month of a partition)."""

from __future__ import annotations

import calendar
from datetime import date


def month_bounds(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def shift_month(month: str, offset: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + (number - 1) + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def previous_month(today: date) -> str:
    return shift_month(f"{today.year:04d}-{today.month:02d}", -1)
