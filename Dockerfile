# The image every service in docker-compose.yml runs: Apache Airflow 3.3.2's official image with lgsp
# installed and our DAGs in Airflow's dags folder. Not needed for `make run` or `make test`.
#
#   docker compose build          (or: docker build -t lgsp-airflow:local .)
#
# Extended the way Airflow's docs recommend ("Building the image: adding packages"): pip runs as the
# airflow user, never as root, and names apache-airflow at the image's own version (AIRFLOW_VERSION is set
# by the base image) in the same call, so resolving our dependencies cannot upgrade or downgrade Airflow.
#
# Constraints: the docs also offer Airflow's constraint file (--constraint https://raw.githubusercontent.com/
# apache/airflow/constraints-3.3.2/constraints-<python>.txt). It is not used here: it pins Airflow's whole
# tree to exact versions, and our own pins in pyproject.toml (Great Expectations, zeep, altair...) need not
# agree with it; pinning apache-airflow keeps the image's Airflow and providers as shipped, and `pip check`
# fails the build if what we add conflicts with them.
FROM apache/airflow:3.3.2

USER root
# /opt/lgsp: the sharing registry (config/) and LGSP_HOME (home/, a volume in docker-compose.yml).
# Group 0 with the user's rights, as the base image does, so any AIRFLOW_UID with GID 0 can use them.
RUN mkdir -p /opt/lgsp/src /opt/lgsp/home \
 && chown -R airflow:0 /opt/lgsp \
 && chmod -R g=u /opt/lgsp
USER airflow

# The package first, the DAGs and the registry after it: editing a DAG or config/sharing does not reinstall.
WORKDIR /opt/lgsp/src
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 lgsp/ lgsp/
COPY --chown=airflow:0 connectors/ connectors/
COPY --chown=airflow:0 schemas/ schemas/
COPY --chown=airflow:0 quality/ quality/
COPY --chown=airflow:0 hub/ hub/
COPY --chown=airflow:0 mocks/ mocks/
# A regular (not editable) install: the sources are not needed once it is done.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" . \
 && pip check \
 && rm -rf /opt/lgsp/src

COPY --chown=airflow:0 config/ /opt/lgsp/config/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/

# The installed package has no config/ beside it (hub/sharing/registry.py's default), hence
# LGSP_SHARING_CONFIG; mount another folder over /opt/lgsp/config/sharing to load your own agencies.
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    LGSP_SHARING_CONFIG=/opt/lgsp/config/sharing \
    LGSP_HOME=/opt/lgsp/home \
    GX_ANALYTICS_ENABLED=false

WORKDIR /opt/airflow
