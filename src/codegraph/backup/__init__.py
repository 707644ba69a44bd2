"""Backup and restore of a CodeGraph data directory, consistent while a server runs.

- ``create``: a snapshot staged where no write runs, packed with its manifest into
  ``codegraph-data-YYYYMMDD-HHMMSS.tar.gz`` (written atomically);
- ``verify``: an archive read whole and checked before anything is restored;
- ``restore``: the data directory replaced by a verified archive's, when no writer runs;
- ``remote``: ``codegraph backup`` through the admin endpoint of the server that holds the
  store.
"""
