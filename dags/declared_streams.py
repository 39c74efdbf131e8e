"""Declared streams: one Airflow DAG per stream of every system declared in `config/systems/*.yaml`.

Onboarding a system is one YAML file, no Python: this file reads every declaration
(`hub.systems.loader`: PyYAML and pydantic, nothing of the pipeline) and builds each
stream's extract -> audit -> publish DAG (`hub.orchestration.declared`), with its
schedule, pool, asset and notes taken from the declaration. A declaration that is wrong
fails this file alone: Airflow lists it under import errors with every problem's file
and line (`lgsp systems check` says the same), and the hub's own DAGs go on.
"""

from hub.orchestration.declared import declared_dags

for _dag in declared_dags():
    globals()[f"{_dag.dag_id}_dag"] = _dag  # module-level names: what Airflow's DagBag collects
