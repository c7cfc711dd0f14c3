"""The read-only web dashboard (starlette, served by uvicorn)."""
