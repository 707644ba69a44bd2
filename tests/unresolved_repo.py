"""A small repository whose calls to ``filter`` are partly unresolved, for the tests of
``unresolved``, ``min_confidence`` and impact's cap (test_unresolved.py, test_store_migrate.py).

``QuerySet.filter`` has one caller the resolver finds (``self.filter`` in ``exclude``, same
scope, 0.9). Three calls to a ``filter`` are on receivers of unknown type with four
project classes defining one (too many to guess): unresolved. ``filter(None, xs)`` is the
builtin: a known external. ``build`` is called through an import (1.0) and in its own
file (same scope, 0.9); ``view`` calls ``page``, which calls ``build``.
"""

QUERY = '''\
"""Four classes with a filter method: a call on an unknown receiver cannot pick one."""


class QuerySet:
    def filter(self, **kw):
        return self

    def exclude(self, **kw):
        return self.filter(**kw)


class Manager:
    def filter(self, **kw):
        return QuerySet()


class RelatedManager:
    def filter(self, **kw):
        return QuerySet()


class Cache:
    def filter(self, **kw):
        return {}


def build(rows):
    return QuerySet()


def rebuild(rows):
    return build(rows)
'''
VIEWS = '''\
from shop.query import build


def recent(qs):
    return qs.filter(new=True)


def visible(items):
    shown = items.filter(hidden=False)
    return shown.filter(ok=True)


def evens(xs):
    return list(filter(None, xs))


def page(rows):
    return build(rows)


def view(rows):
    return page(rows)
'''
FILES = {"shop/__init__.py": "", "shop/query.py": QUERY, "shop/views.py": VIEWS}
UNRESOLVED_FILTERS, KNOWN_FILTERS = 3, 1  # calls to a filter in FILES
