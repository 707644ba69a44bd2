# tag: adminer:4
# Stand-in for the official adminer:4 image, from Debian's adminer (4.8.1) and php-cli:
# served as upstream does, by PHP's built-in server (`php -S [::]:8080`) from
# /var/www/html, as the unprivileged user adminer; the PostgreSQL, MySQL and SQLite drivers
# are in. php-cgi satisfies the package's web-server dependency without Apache.
FROM debian:bookworm-slim
# Debian's stable suite pins the versions (they move only with its security updates)
# hadolint ignore=DL3008
RUN groupadd --system --gid 1000 adminer \
 && useradd --system --uid 1000 --gid adminer --home-dir /var/www/html --shell /usr/sbin/nologin adminer \
 && apt-get update \
 && apt-get install -y --no-install-recommends adminer php-cli php-cgi php-pgsql php-mysql php-sqlite3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin \
 && install -d -m 0755 /var/www/html \
 && printf '%s\n' '<?php' "include '/etc/adminer/conf.php';" > /var/www/html/index.php \
 && printf '%s\n' 'upload_max_filesize = 128M' 'post_max_size = 128M' 'memory_limit = -1' \
      'max_execution_time = 0' > /etc/php/8.2/cli/conf.d/0-upload_large_dumps.ini
WORKDIR /var/www/html
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["php", "-r", "exit(@file_get_contents('http://127.0.0.1:8080/') === false ? 1 : 0);"]
CMD ["php", "-S", "[::]:8080", "-t", "/var/www/html"]
