# tag: prom/node-exporter:v1.5.0
# Stand-in for prom/node-exporter, from Debian's prometheus-node-exporter (1.5):
# /bin/node_exporter, user nobody, wget for healthchecks as upstream's busybox base has.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-node-exporter wget \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s prometheus-node-exporter /usr/bin/node_exporter
USER nobody
EXPOSE 9100
ENTRYPOINT ["/bin/node_exporter"]
