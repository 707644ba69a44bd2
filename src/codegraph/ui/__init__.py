"""The web UI at ``/``: server-rendered pages (search, symbols, their graph, repositories)
over the library, served by the API's own app (``routes.ui_routes``)."""
