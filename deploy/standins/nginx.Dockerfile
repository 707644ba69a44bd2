# tag: nginx:1.22
# Stand-in for the official nginx image, from Debian's nginx (1.22): the same binary path,
# config layout (/etc/nginx/nginx.conf, conf.d), user nginx 101:101, logs to the container's
# stdout/stderr, curl for healthchecks, and `nginx -g 'daemon off;'` as the command.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* /var/www/html/* \
 && groupadd --system --gid 101 nginx \
 && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --shell /usr/sbin/nologin nginx \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
