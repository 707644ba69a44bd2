# tag: prom/alertmanager:v0.25.0
# Stand-in for prom/alertmanager, from Debian's prometheus-alertmanager (0.25, with amtool):
# /bin/alertmanager, /bin/amtool, /etc/alertmanager, data in /alertmanager, user nobody,
# wget for healthchecks as upstream's busybox base has.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-alertmanager wget \
 && rm -rf /var/lib/apt/lists/* /etc/prometheus/alertmanager.yml \
 && ln -s prometheus-alertmanager /usr/bin/alertmanager \
 && install -d -o nobody -g nogroup /alertmanager /etc/alertmanager
USER nobody
WORKDIR /alertmanager
VOLUME /alertmanager
EXPOSE 9093
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
