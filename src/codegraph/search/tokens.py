"""Code-aware tokens for lexical search: the same function tokenizes chunks and queries.

Rules (``code_tokens``):

* A word is a run of ``\\w`` (letters, digits, ``_``); everything else separates words, so
  paths split on ``/ . _ -`` and kebab-case splits on ``-``.
* A word splits into parts on ``_`` and on case changes: ``HTTPServerError`` -> ``http``,
  ``server``, ``error``; ``parse_json_file`` -> ``parse``, ``json``, ``file``.
* Digits stay glued to the letters before them (``utf8``, ``sha256``, ``int64``,
  ``getHTTP2Url`` -> ``get``, ``http2``, ``url``), and the letters alone are a token too
  (``http``), so ``http`` finds ``HTTP2Server``. A digit run of its own is a token
  (``404``, ``8080``).
* A word that split also gives its whole self, lowercased and without ``_``:
  ``getUserById`` and ``get_user_by_id`` both give ``getuserbyid``, so an exact identifier
  query scores high whatever the naming convention of query and code.
* Tokens are lowercase; 1-character tokens, tokens over 64 characters (blobs, hashes) and
  the few ``STOP`` words are dropped.

Tokens hold only ``\\w`` characters other than ``_``, so a whitespace join of them is
indexed as is by FTS5's ``ascii`` tokenizer (non-ASCII characters are token characters).
"""

from __future__ import annotations

import re

# English function words and keywords that appear in nearly every chunk of a language.
# They carry no signal, lengthen posting lists (``self`` occurs dozens of times in a
# Python method) and, worst, would defeat all-terms matching of natural-language queries
# ("returns the user for this id"). Words that also name code concepts (get, set, new,
# list, type, error, file, test, not, import, class, function) are kept on purpose.
STOP = frozenset({
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "if", "in", "is", "it", "its",
    "of", "on", "or", "that", "the", "this", "to", "was", "with",
    "self", "cls", "def", "return", "none", "null", "nil", "true", "false", "var", "let",
    "const", "elif", "else", "pass", "fn", "func",
})

MAX_TOKEN = 64
_WORD = re.compile(r"\w+")
# ASCII parts of a word: an acronym (stops before a capitalized word: HTTPServer -> HTTP,
# Server), a capitalized or lowercase word, then trailing digits; or a digit run.
_PART = re.compile(r"[A-Z]+(?![a-z])[0-9]*|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_DIGITS = "0123456789"
# A bytes.translate table that turns ASCII characters other than ``\w`` into spaces: the
# words of ASCII text are then its whitespace-separated runs (twice as fast as the regex).
_NON_WORD_BYTES = bytes(c if c < 128 and (chr(c).isalnum() or c == 95) else 32
                        for c in range(256))
_CACHE_LIMIT = 200_000
# word -> its tokens. Identifiers repeat a lot in code: most words are a dict hit.
_cache: dict[str, tuple[str, ...]] = {}


class _JoinedTokens(dict[bytes, str]):
    """word (UTF-8) -> its tokens joined by spaces ("" for none), made on first lookup."""

    def __missing__(self, word: bytes) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        joined = self[word] = " ".join(_word_tokens(word.decode()))
        return joined


_joined = _JoinedTokens()


def _words(text: str) -> list[str]:
    """The runs of word characters (letters, digits, ``_``) of ``text``."""
    if text.isascii():
        return text.encode("ascii").translate(_NON_WORD_BYTES).decode("ascii").split()
    return _WORD.findall(text)


def token_text(text: str) -> str:
    """``" ".join(code_tokens(text))``, the form the lexical index keeps text in, with the
    per-word loop in C: a join over the words' cached joined tokens, empty ones left out.
    ASCII text (nearly all code) is split as bytes: ``bytes.translate`` and ``bytes.split``
    are table lookups, and bytes words are cheaper to make than str ones."""
    if text.isascii():
        words = text.encode("ascii").translate(_NON_WORD_BYTES).split()
    else:
        words = [word.encode() for word in _WORD.findall(text)]
    return " ".join(filter(None, map(_joined.__getitem__, words)))


def code_tokens(text: str) -> list[str]:
    """The search tokens of a chunk's text or of a query, in order, with repeats."""
    out: list[str] = []
    cache = _cache
    for word in _words(text):
        toks = cache.get(word)
        if toks is None:
            toks = _word_tokens(word)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[word] = toks
        if toks:
            out.extend(toks)
    return out


def _word_tokens(word: str) -> tuple[str, ...]:
    parts = _PART.findall(word) if word.isascii() else _unicode_parts(word)
    out: list[str] = []
    for part in parts:
        low = part.lower()
        if 1 < len(low) <= MAX_TOKEN and low not in STOP:
            out.append(low)
        stem = low.rstrip(_DIGITS)  # "http2" -> "http" too
        if stem and stem != low and 1 < len(stem) <= MAX_TOKEN and stem not in STOP:
            out.append(stem)
    if len(parts) > 1:
        whole = "".join(parts).lower()
        if 1 < len(whole) <= MAX_TOKEN and whole not in STOP:
            out.append(whole)
    return tuple(out)


def _unicode_parts(word: str) -> list[str]:
    """``_PART`` for words with non-ASCII characters, by character classes."""
    parts: list[str] = []
    for piece in word.split("_"):
        start = 0
        n = len(piece)
        for i in range(1, n):
            prev, ch = piece[i - 1], piece[i]
            nxt = piece[i + 1] if i + 1 < n else ""
            if ((ch.isupper() and (prev.islower() or prev.isdigit()))
                    or (ch.isupper() and prev.isupper() and nxt.islower())
                    or (ch.isalpha() and prev.isdigit())):
                parts.append(piece[start:i])
                start = i
        if start < n:
            parts.append(piece[start:])
    return [p for p in parts if p]


def query_terms(text: str) -> list[str]:
    """The distinct tokens of a query, in first-seen order."""
    return list(dict.fromkeys(code_tokens(text)))
