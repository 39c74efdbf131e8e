"""Running the DAGs on Airflow 3.3, on this machine.

in_process.py   in-process: ``dag.test()`` in a child process, for ``lgsp run`` and the tests
cluster.py      the real processes (api-server, dag-processor, triggerer, scheduler), LocalExecutor or Celery
celery_cluster.py  Redis (the broker) and the ``airflow celery worker`` processes, for ``executor="celery"``
supervisor.py   child processes in their own groups, logged, stopped together (knows no Airflow)
environment.py  the one environment every process gets: ports, keys, login, metadata DB
rest.py         the running cluster through its REST API: health, DAGs, pools, runs
demo.py         ``lgsp airflow``: the mocks, the store and the cluster until Ctrl-C
"""
