"""Scale-out: the object copies of ``migrate apply`` on a dask.distributed cluster.

``worker`` is what runs on the workers (no dask import); ``cluster`` is the coordinator's
side (the only module that talks to dask.distributed).
"""
