-- A second database for Airflow's metadata beside the hub's store.
CREATE DATABASE airflow OWNER lgsp;
