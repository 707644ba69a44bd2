# tag: redis:7.0
# Stand-in for the official redis image, from Debian's redis-server (7.0): user redis
# 999:999, data in /data, redis-server and redis-cli on PATH.
FROM debian:bookworm-slim
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /data --shell /usr/sbin/nologin redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server"]
