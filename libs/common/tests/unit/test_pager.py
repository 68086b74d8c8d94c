"""``every_item`` reads every page of an ``/api/v1`` list, and stops on a page that comes back empty."""

from __future__ import annotations

from typing import Any

from common.testing.gateway_api import Page, every_item, every_item_async


class PagedList:
    """A list served in pages as the gateway serves it; ``shrink_to`` drops rows after the first page is read."""

    def __init__(self, n: int, *, shrink_to: int | None = None) -> None:
        self.rows = list(range(n))
        self.shrink_to = shrink_to
        self.asked: list[tuple[int, int]] = []

    def page(self, page: int, size: int) -> Page:
        self.asked.append((page, size))
        body: dict[str, Any] = {"items": self.rows[(page - 1) * size : page * size], "total": len(self.rows)}
        if self.shrink_to is not None:
            self.rows = self.rows[: self.shrink_to]
        return body


def test_every_page_is_read_once_in_order() -> None:
    rows = PagedList(5)
    assert every_item(rows.page, page_size=2) == [0, 1, 2, 3, 4]
    assert rows.asked == [(1, 2), (2, 2), (3, 2)]


def test_a_total_on_a_page_boundary_asks_no_empty_page() -> None:
    rows = PagedList(4)
    assert every_item(rows.page, page_size=2) == [0, 1, 2, 3]
    assert rows.asked == [(1, 2), (2, 2)]


def test_an_empty_list_is_one_call() -> None:
    rows = PagedList(0)
    assert every_item(rows.page) == []
    assert rows.asked == [(1, 200)]


def test_a_list_that_shrinks_while_read_ends_on_the_empty_page() -> None:
    rows = PagedList(4, shrink_to=1)
    assert every_item(rows.page, page_size=2) == [0, 1]
    assert rows.asked == [(1, 2), (2, 2)]


async def test_the_async_reader_reads_the_same_pages() -> None:
    rows = PagedList(5)

    async def page(page: int, size: int) -> Page:
        return rows.page(page, size)

    assert await every_item_async(page, page_size=2) == [0, 1, 2, 3, 4]
    assert rows.asked == [(1, 2), (2, 2), (3, 2)]
