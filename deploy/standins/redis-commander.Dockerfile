# tag: rediscommander/redis-commander:latest
# Stand-in for the official rediscommander/redis-commander image, from Debian's nodejs and
# the npm package redis-commander 0.9.0, laid out as upstream: the app in /redis-commander
# (HOME), upstream's docker/entrypoint.sh (REDIS_HOSTS, REDIS_HOST/PORT/PASSWORD,
# HTTP_USER/HTTP_PASSWORD, *_FILE) under dumb-init, user redis 10000, port 8081,
# bin/healthcheck.js.
#
# npm's downloads: this script's classic builder has no build secrets, and HTTPS from build
# containers here passes a TLS-intercepting proxy whose CA is not in the image. So the
# build stage runs `npm ci` with certificate checks off, and what protects the tree is the
# lock: every package is pinned by its sha512 integrity in redis-commander/package-lock.json,
# and npm ci refuses any tarball that does not match (EINTEGRITY). Nothing of the build
# stage (npm, its config) is in the final image.
# The build script's recipe hash covers this file, not the files it copies: keep the line
# below equal to `cat deploy/standins/redis-commander/package.json
# deploy/standins/redis-commander/package-lock.json | sha256sum` (a test checks)
# lock-sha256: c73bcdd89c5849570793e7788d56e08834748fe47a4b8eed4284f4353159fcac
FROM debian:bookworm-slim AS build
# Debian's stable suite pins the versions (they move only with its security updates)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY redis-commander/package.json redis-commander/package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --strict-ssl=false \
 && mv node_modules/redis-commander /redis-commander \
 && mv node_modules /redis-commander/node_modules

FROM debian:bookworm-slim
# Debian's stable suite pins the versions (they move only with its security updates)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs dumb-init jq \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin \
 && useradd --system --uid 10000 --gid 0 --home-dir /redis-commander --shell /usr/sbin/nologin redis
COPY --from=build /redis-commander /redis-commander
RUN chown -R redis /redis-commander/config \
 && chmod g+w /redis-commander/config \
 && chmod 0755 /redis-commander/docker/entrypoint.sh /redis-commander/bin/*.js
ENV HOME=/redis-commander NODE_ENV=production SERVICE_USER=redis
WORKDIR /redis-commander
USER 10000
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=2s CMD ["/redis-commander/bin/healthcheck.js"]
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
CMD ["/redis-commander/docker/entrypoint.sh"]
