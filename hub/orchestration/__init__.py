"""What Airflow runs, derived from the declarations: the DAG factory, schedules, pools and assets.

flows.py      the DAG factory: one DAG per flow, each task one call into the hub
schedules.py  each flow's schedule, the pools and the assets between flows (the report reads them too):
              the hub's own flows, combined with every declared stream's
declared.py   the DAG of a declared stream and its notes, from its declaration (dags/declared_streams.py)

DAG files import these while Airflow parses them, constantly: nothing heavy at module
level here (tests/dags/test_dag_integrity.py holds the list of what may load).
"""
