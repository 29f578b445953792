"""The Kubernetes operator: thin Kopf handlers over pure manifest builders and status logic.

Kept empty on purpose: importing a pure helper (conditions, status, children, dask_cluster) must not pull in
Kopf or a client.
"""
