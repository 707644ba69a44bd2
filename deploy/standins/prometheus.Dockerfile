# tag: prom/prometheus:v2.42.0
# Stand-in for prom/prometheus, from Debian's prometheus (2.42, with promtool): the
# upstream paths (/bin/prometheus, /bin/promtool, /etc/prometheus, data in /prometheus),
# user nobody, and wget for healthchecks as upstream's busybox base has.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* /etc/prometheus/*.yml \
 && install -d -o nobody -g nogroup /prometheus
USER nobody
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
