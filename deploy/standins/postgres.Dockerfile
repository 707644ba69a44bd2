# tag: postgres:15
# Stand-in for the official postgres:15 image, from Debian's postgresql-15: user postgres
# 999:999, PGDATA /var/lib/postgresql/data initialised on the first start from
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB by docker-entrypoint.sh (as upstream,
# also *_FILE and /docker-entrypoint-initdb.d), listening on all addresses with
# scram-sha-256 passwords, pg_isready and psql on PATH.
# The build script's recipe hash covers this file, not the entrypoint it copies: keep the
# line below equal to `sha256sum deploy/standins/postgres/docker-entrypoint.sh` (a test checks)
# entrypoint-sha256: 04629a26d31f1748f7bac89054129b8dacc9cd1c33a548f047a7522a36b1e3ae
FROM debian:bookworm-slim
ENV PG_MAJOR=15 LANG=C.UTF-8
# the postgres user first (the package keeps an existing one), and no "main" cluster;
# Debian's stable suite pins the versions (they move only with its security updates)
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin \
 && install -d -o postgres -g postgres -m 2777 /var/run/postgresql \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d /docker-entrypoint-initdb.d
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY postgres/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
# over TCP: during the first start's initialisation only the socket is open
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
  CMD ["pg_isready", "-h", "127.0.0.1", "-p", "5432"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
