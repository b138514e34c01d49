"""Bulk jobs (ingest, batch prediction) on the local engine (in-process) or on Ray (``--engine ray``).

Ray is imported only on the Ray path, so the API and the local engine never pay for it.
"""
