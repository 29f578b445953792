"""A run's driver: the tenant side of a run in the cluster (`retrodiction train rt/NAME` in the run's Job).

It does everything the operator must not: reads the data, is the Dask client, merges, checkpoints and stores the
summary, all in the run's namespace with a ServiceAccount that holds only what the run needs.
"""
