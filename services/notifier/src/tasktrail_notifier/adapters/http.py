"""Send one HTTP request of a channel (webhook, Slack, Telegram, PagerDuty, Teams)."""

from __future__ import annotations

import httpx

from tasktrail_notifier.domain.formats import HttpRequest
from tasktrail_notifier.domain.retry import Answer, parse_retry_after


class HttpTransport:
    def __init__(self, timeout: float) -> None:
        # trust_env=False: a proxy set in the environment must not see our receivers' secrets.
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def send(self, request: HttpRequest) -> Answer:
        try:
            response = await self._client.post(
                request.url, content=request.body, headers=request.headers
            )
        except httpx.HTTPError as exc:
            return Answer(error=f"{type(exc).__name__}: {exc}"[:300])
        error = None if response.is_success else response.text[:300]
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Answer(code=response.status_code, error=error, retry_after=retry_after)

    async def close(self) -> None:
        await self._client.aclose()
