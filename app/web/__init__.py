"""FastAPI routers, templates and everything rendered: pages, the live fragments, the JSON API."""
