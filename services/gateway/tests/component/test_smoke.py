from __future__ import annotations

import httpx


async def test_me_as_bootstrap_admin(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "admin"
    assert r.json()["roles"] == ["admin"]
