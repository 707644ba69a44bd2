"""``POST /api/v1/ask``: answer a question about the code from retrieved context and an
OpenAI-compatible chat model (``OPENAI_API_KEY``, ``OPENAI_MODEL``, ``OPENAI_BASE_URL``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from codegraph.server.errors import ApiError

if TYPE_CHECKING:
    from codegraph.server.app import Context

TIMEOUT = 60.0
SNIPPET_CHARS = 2500
SYSTEM = ("You answer questions about a code base. Use only the numbered code excerpts you "
          "are given; cite them as [n] with their path and line. If they do not contain the "
          "answer, say so.")


def _context(ctx: Context, question: str, repo: str | None, count: int) -> list[dict[str, Any]]:
    with ctx.engine.reading():
        return _retrieve(ctx, question, repo, count)


def _retrieve(ctx: Context, question: str, repo: str | None, count: int,
              ) -> list[dict[str, Any]]:
    mode = "hybrid" if ctx.engine.snapshot.embedded else "lexical"
    try:
        hits = ctx.cg.search(question, mode=mode, limit=count, repo=repo)["results"]
    except Exception:  # semantic side unavailable: fall back to words alone
        hits = ctx.cg.search(question, mode="lexical", limit=count, repo=repo)["results"]
    sources = []
    for hit in hits:
        source = ctx.cg.snippet(hit["repo"], hit["path"], hit["line"], hit["end_line"])
        sources.append({"id": hit["id"], "qualified_name": hit["qualified_name"],
                        "repo": hit["repo"], "path": hit["path"], "line": hit["line"],
                        "end_line": hit["end_line"],
                        "text": (source or hit.get("signature") or "")[:SNIPPET_CHARS]})
    return sources


async def answer(ctx: Context, question: str, *, repo: str | None = None,
                 max_context: int | None = None) -> dict[str, Any]:
    config = ctx.config
    if not config.openai_api_key:
        raise ApiError(503, "no_model", "/ask needs a chat model: set OPENAI_API_KEY (and "
                       "OPENAI_MODEL, OPENAI_BASE_URL for another compatible server)")
    sources = await ctx.in_pool(_context, ctx, question, repo, max_context or 8)
    excerpts = "\n\n".join(f"[{i}] {s['path']}:{s['line']} {s['qualified_name']}\n{s['text']}"
                           for i, s in enumerate(sources, 1))
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Code excerpts:\n\n{excerpts}\n\nQuestion: "
                                            f"{question}"}]
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(
                f"{config.openai_base_url}/chat/completions",
                headers={"Authorization": f"Bearer {config.openai_api_key}"},
                json={"model": config.openai_model, "messages": messages,
                      "temperature": 0})
    except httpx.HTTPError as exc:
        raise ApiError(502, "model_unreachable", f"the chat model did not answer: "
                       f"{type(exc).__name__}") from None
    if response.status_code != 200:
        raise ApiError(502, "model_error", f"the chat model answered HTTP "
                       f"{response.status_code}")
    try:
        data = response.json()
        text = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApiError(502, "model_error", "the chat model's answer is malformed") from None
    if not isinstance(text, str):
        raise ApiError(502, "model_error", "the chat model's answer is malformed")
    return {"answer": text, "model": data.get("model", config.openai_model),
            "sources": [{k: v for k, v in s.items() if k != "text"} for s in sources]}
