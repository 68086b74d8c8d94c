"""A small REST client of the server, for the bootstrap and tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from devstack.dolphin.errors import DolphinApiError


class DolphinRest:
    """Thin form-encoded REST client: returns ``data`` of the ``{code,msg,data}`` envelope."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"token": token} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DolphinRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self.http.request(method, path, params=params, data=data)
        if response.status_code == 401:
            raise DolphinApiError(path, 401, "unauthorized (HTTP 401, empty body)")
        response.raise_for_status()
        body = response.json()
        code = int(body.get("code", -1))
        if code != 0:
            raise DolphinApiError(path, code, str(body.get("msg")))
        return body.get("data")

    def login(self, user: str, password: str) -> str:
        data = self.call("POST", "/login", data={"userName": user, "userPassword": password})
        session = str(data["sessionId"])
        self.http.headers["sessionId"] = session
        return session
