"""Five-field cron schedules as PingSource accepts them (robfig/cron ``ParseStandard`` rules).

Fields: minute hour day-of-month month day-of-week. Each field is ``*``, ``?`` (day fields),
a value, a range ``a-b``, a step ``*/n`` / ``a-b/n`` / ``a/n`` (= ``a-max/n``), or a comma list
of those; months and weekdays also take names (``jan``, ``mon``). Weekdays are 0-6, Sunday 0.
The descriptors ``@yearly @annually @monthly @weekly @daily @midnight @hourly`` are accepted.
When both day fields are restricted, a day matches if EITHER matches (classic cron).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_BOUNDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
]
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_LIMIT = timedelta(days=366 * 5)


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_star: bool
    weekday_star: bool

    def _day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days
        dow = (when.isoweekday() % 7) in self.weekdays
        if self.day_star or self.weekday_star:
            return dom and dow
        return dom or dow

    def matches(self, when: datetime) -> bool:
        """True if the wall-clock minute of ``when`` is a firing time."""
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self._day_matches(when)
        )

    def next_after(self, when: datetime) -> datetime:
        """The first firing minute strictly after ``when`` (same tzinfo, seconds zeroed)."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + _SEARCH_LIMIT
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise ValueError("schedule never fires within five years")


def _value(token: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    lowered = token.lower()
    if lowered in names:
        return names[lowered]
    if not token.isdigit():
        raise ValueError(f"{name}: {token!r} is not a number or name")
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{name}: {number} is outside {low}-{high}")
    return number


def _field(
    text: str, name: str, low: int, high: int, names: dict[str, int]
) -> tuple[set[int], bool]:
    """Values of one field and whether it counts as ``*`` for the day-matching rule."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise ValueError(f"{name}: empty list element in {text!r}")
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{name}: bad step {step_text!r}")
            step = int(step_text)
        if span in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        elif "-" in span:
            first, _, last = span.partition("-")
            start = _value(first, name, low, high, names)
            end = _value(last, name, low, high, names)
            if start > end:
                raise ValueError(f"{name}: range {span!r} runs backwards")
        else:
            start = _value(span, name, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values, star


def parse_cron(expression: str) -> CronSchedule:
    """Parse a 5-field cron expression; raise ValueError saying which field is wrong.

    >>> sorted(parse_cron("*/20 9-10 * * mon-fri").minutes)
    [0, 20, 40]
    """
    text = _DESCRIPTORS.get(expression.strip().lower(), expression.strip())
    if text.startswith("@"):
        raise ValueError(f"descriptor {text!r} is not supported (use five cron fields)")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    parsed = [_field(f, *bounds) for f, bounds in zip(fields, _BOUNDS, strict=True)]
    return CronSchedule(
        minutes=frozenset(parsed[0][0]),
        hours=frozenset(parsed[1][0]),
        days=frozenset(parsed[2][0]),
        months=frozenset(parsed[3][0]),
        weekdays=frozenset(parsed[4][0]),
        day_star=parsed[2][1],
        weekday_star=parsed[4][1],
    )
