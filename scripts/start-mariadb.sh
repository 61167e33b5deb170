#!/usr/bin/env bash
# Starts the local MariaDB server (without a service manager if there is none) and creates the
# password-login user the tests use: axiom_test / axiom_test on 127.0.0.1:3306.
set -euo pipefail

USER_NAME=${AXIOM_TEST_DB_USER:-axiom_test}
PASSWORD=${AXIOM_TEST_DB_PASSWORD:-axiom_test}
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

if ! $SUDO mariadb-admin ping --silent >/dev/null 2>&1; then
  if [[ -d /run/systemd/system ]]; then
    $SUDO systemctl start mariadb
  else
    $SUDO mkdir -p /run/mysqld
    $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=root
  fi
  for _ in $(seq 1 60); do
    $SUDO mariadb-admin ping --silent >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
$SUDO mariadb-admin ping --silent >/dev/null 2>&1 || { echo "MariaDB did not start" >&2; exit 1; }

$SUDO mariadb <<SQL
CREATE USER IF NOT EXISTS '${USER_NAME}'@'localhost' IDENTIFIED BY '${PASSWORD}';
CREATE USER IF NOT EXISTS '${USER_NAME}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '${USER_NAME}'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO '${USER_NAME}'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
echo "MariaDB is running; test user ${USER_NAME} can log in on 127.0.0.1:3306"
