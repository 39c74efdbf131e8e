-- Run once by the postgres image when it initialises an empty data volume (docker-entrypoint-initdb.d),
-- as POSTGRES_USER ("airflow") in POSTGRES_DB ("airflow", Airflow's metadata database): the hub's store
-- gets its own database beside it, owned by the same user. `lgsp upgrade-db` (airflow-init) creates its
-- tables; LGSP_DATABASE_URL in docker-compose.yml points at it.
CREATE DATABASE lgsp;
