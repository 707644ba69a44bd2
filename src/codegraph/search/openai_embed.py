"""The ``openai`` embedding provider: any server speaking OpenAI's ``POST /embeddings``.

Configuration: ``$OPENAI_API_KEY`` (required), ``$OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``; vLLM, Ollama, LocalAI, Azure-style proxies ... work too) and
``$OPENAI_EMBEDDING_MODEL`` (default ``text-embedding-3-small``); constructor arguments
override them. Texts go in batches (64 per request by default). A 429, a 5xx, a timeout or a
dropped connection is retried with exponential backoff and jitter, honouring ``Retry-After``;
any other failure, and any response that is not exactly one finite numeric vector of the
expected dimension per input, raises :class:`EmbeddingError` for the whole call: never
partial, random or zero vectors. Rows come back as float32, L2-normalised.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from codegraph.search.embeddings import EmbeddingError

ENV_API_KEY = "OPENAI_API_KEY"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_MODEL = "OPENAI_EMBEDDING_MODEL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx
# Timeouts and dropped or refused connections; not bad URLs or local protocol misuse.
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
DIMENSION_PROBE = "dimension probe"


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible HTTP API (see the module docstring)."""

    provider = "openai"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        dimension: int | None = None,
        batch_size: int = 64,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key or ""
        if not key.strip():
            raise EmbeddingError(
                f"the openai embedding provider needs an API key: set ${ENV_API_KEY} (any "
                "non-empty value for a local server that does not check it)"
            )
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise EmbeddingError(f"${ENV_BASE_URL} must be an http(s) URL, got {self.base_url!r}")
        self.model: str = model or DEFAULT_MODEL
        if dimension is not None and dimension < 1:
            raise EmbeddingError(f"embedding dimension must be positive, got {dimension}")
        self._dimension = dimension
        self.batch_size = max(1, batch_size)
        self.max_attempts = max(1, max_attempts)
        self.backoff, self.max_backoff = backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.url = f"{self.base_url}/embeddings"
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={"Authorization": f"Bearer {key.strip()}"},
            transport=transport,
        )

    @property
    def dimension(self) -> int:
        """The vector width: given, else learnt from the first response (a one-text request
        is made if nothing was embedded yet)."""
        if self._dimension is None:
            self.embed([DIMENSION_PROBE])
        assert self._dimension is not None
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def release_memory(self) -> None:
        """Nothing to give back: the model runs elsewhere."""

    def embed(self, texts: list[str], between: Callable[[], None] | None = None,
              ) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        # The API rejects empty strings; a blank has (nearly) the same meaning.
        inputs = [t if t.strip() else " " for t in texts]
        batches = []
        for start in range(0, len(inputs), self.batch_size):
            if start and between is not None:
                between()
            batches.append(self._embed_batch(inputs[start : start + self.batch_size]))
        return np.concatenate(batches)

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        payload = {"model": self.model, "input": texts}
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, json=payload)
            except RETRY_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except httpx.HTTPError as exc:
                raise EmbeddingError(f"embedding request to {self.url} failed: {exc}") from exc
            else:
                if response.is_success:
                    return self._parse(response, len(texts))
                detail = _error_detail(response)
                if response.status_code < 500 and response.status_code not in RETRY_STATUS:
                    hint = (f" (check ${ENV_API_KEY})" if response.status_code in (401, 403)
                            else "")
                    raise EmbeddingError(f"embedding request to {self.url} with model "
                                         f"{self.model!r} was refused: {detail}{hint}")
                last, retry_after = detail, _retry_after(response.headers)
            if attempt < self.max_attempts:
                time.sleep(self._delay(attempt, retry_after))
        raise EmbeddingError(f"embedding request to {self.url} failed after "
                             f"{self.max_attempts} attempts; last error: {last}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        base = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)  # "equal jitter"

    def _parse(self, response: httpx.Response, expected: int) -> npt.NDArray[np.float32]:
        where = f"the embedding response from {self.url}"
        try:
            body = response.json()
        except ValueError:
            raise EmbeddingError(f"{where} is not JSON: {response.text[:200]!r}") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise EmbeddingError(f"{where} has no 'data' list of objects")
        if len(data) != expected:
            raise EmbeddingError(f"{where} holds {len(data)} embeddings for {expected} inputs")
        order = [d.get("index") for d in data]
        if any(o is not None for o in order):  # servers that omit "index" keep input order
            if not all(isinstance(o, int) and not isinstance(o, bool) for o in order) or sorted(
                    order) != list(range(expected)):
                raise EmbeddingError(f"{where} has indexes {order[:8]}, not 0..{expected - 1}")
            data = sorted(data, key=lambda d: int(d["index"]))
        rows = [_vector(d.get("embedding"), where, i) for i, d in enumerate(data)]
        widths = {len(r) for r in rows}
        width = widths.pop()
        if widths:
            raise EmbeddingError(f"{where} mixes vectors of different dimensions")
        if self._dimension is not None and width != self._dimension:
            raise EmbeddingError(
                f"{where} has {width}-dimension vectors, expected {self._dimension} (model "
                f"{self.model!r} changed? re-embed with a reset index)")
        matrix = np.asarray(rows, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise EmbeddingError(f"{where} contains an all-zero vector")
        self._dimension = width
        out: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32)
        return out


def _vector(value: Any, where: str, i: int) -> list[float]:
    if not isinstance(value, list) or not value:
        raise EmbeddingError(f"{where}: embedding {i} is not a non-empty list of numbers "
                             "(base64 encoding is not supported)")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise EmbeddingError(f"{where}: embedding {i} holds non-numeric values")
    if not all(math.isfinite(v) for v in value):
        raise EmbeddingError(f"{where}: embedding {i} holds NaN or infinite values")
    return value


def _error_detail(response: httpx.Response) -> str:
    message = response.text[:300]
    try:
        error = response.json().get("error")
        message = str(error.get("message") if isinstance(error, dict) else error or message)
    except (ValueError, AttributeError):
        pass
    return f"HTTP {response.status_code}: {message}".strip()


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            continue
        return max(0.0, when.timestamp() - time.time())
    return None
