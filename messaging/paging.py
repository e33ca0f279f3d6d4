"""Keyset pages of an inbox: rows ordered by (-last_message_at, -id), walked from a cursor on those two
fields instead of an OFFSET and a COUNT. A page costs the same at any length of history, and a row that
moves to the top while someone reads page three is neither skipped nor shown twice.

The cursor is "<microseconds since 1970>.<id>" of the row at a page's edge: `older` asks for the rows after
it, `newer` for the rows before it. A cursor that does not parse is ignored (the first page).
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.http import QueryDict

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
CURSOR_PARAMETERS = ("older", "newer", "page")


@dataclass
class KeysetPage:
    object_list: list = field(default_factory=list)
    older: str = ""  # the cursor of the next (older) page, "" on the last one
    newer: str = ""  # the cursor of the previous (newer) page, "" on the first one
    older_url: str = ""  # "?…&older=<cursor>", every other parameter (filters, search) kept
    newer_url: str = ""

    def has_other_pages(self) -> bool:
        return bool(self.older or self.newer)

    def _link(self, params: QueryDict) -> "KeysetPage":
        kept = params.copy()
        for name in CURSOR_PARAMETERS:
            kept.pop(name, None)
        for direction in ("older", "newer"):
            cursor = getattr(self, direction)
            if cursor:
                query = kept.copy()
                query[direction] = cursor
                setattr(self, f"{direction}_url", "?" + query.urlencode())
        return self


def cursor_of(row) -> str:
    delta = row.last_message_at - EPOCH
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{microseconds}.{row.pk}"


def cursor_parse(value: str | None) -> tuple[datetime.datetime, int] | None:
    moment, _, pk = (value or "").partition(".")
    if not (moment.isdigit() and pk.isdigit() and len(moment) <= 17 and len(pk) <= 18):
        return None
    try:
        return EPOCH + datetime.timedelta(microseconds=int(moment)), int(pk)
    except OverflowError:
        return None


def _slice(rows: QuerySet, order: tuple[str, ...], limit: int, ids_first: bool) -> list:
    if not ids_first:
        return list(rows.order_by(*order)[:limit])
    ids = list(rows.order_by(*order).values_list("id", flat=True)[:limit])
    by_id = {row.pk: row for row in rows.filter(id__in=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def keyset_page(rows: QuerySet, params: QueryDict, *, size: int, ids_first: bool = False) -> KeysetPage:
    """One page of `rows` (any queryset with last_message_at and id; its own order is replaced): the first
    page, the page after cursor `older` or the page before cursor `newer` of `params` (the request's
    parameters, which the page's links keep). One query, two when a page of newer rows reaches the top (then
    it is the first page, full).

    `ids_first`: pick the page's ids with the filters alone, then load those rows with their joins (one
    query more), for a filter whose selectivity PostgreSQL cannot estimate (a tag on some of one
    organization's conversations): it then sorts ids, not fully joined rows."""
    after, before = cursor_parse(params.get("older")), cursor_parse(params.get("newer"))
    if before is not None:
        moment, pk = before
        newer_rows = rows.filter(
            Q(last_message_at__gte=moment) & (Q(last_message_at__gt=moment) | Q(id__gt=pk))
        )
        found = _slice(newer_rows, ("last_message_at", "id"), size + 1, ids_first)
        if len(found) > size:
            page = found[:size][::-1]
            return KeysetPage(page, older=cursor_of(page[-1]), newer=cursor_of(page[0]))._link(params)
        after = None  # the newest rows: that is the first page
    if after is not None:
        moment, pk = after
        rows = rows.filter(Q(last_message_at__lte=moment) & (Q(last_message_at__lt=moment) | Q(id__lt=pk)))
    found = _slice(rows, ("-last_message_at", "-id"), size + 1, ids_first)
    page = found[:size]
    return KeysetPage(
        page,
        older=cursor_of(page[-1]) if len(found) > size else "",
        newer=cursor_of(page[0]) if after is not None and page else "",
    )._link(params)
