"""The hub running on one machine, with nothing installed but this package.

main_job.py          ``lgsp run``: the mocks, every DAG through an in-process Airflow, the report
mock_process.py      ``lgsp mocks serve`` in a child process, until the block ends
demo_connections.py  the Airflow connections that point the DAGs at the mocks
airflow/             Airflow 3.3 on this machine: ``dag.test()`` in a child, or the real cluster (``lgsp airflow``)
"""
