#!/usr/bin/env bash
# Packer step 3 (as root): put the staged payload in place and enable the units.
#   /usr/local/bin/orderflow                         the binary (units' ExecStart)
#   /usr/local/share/orderflow/static                http.static_dir
#   /usr/local/share/orderflow/products.json         the catalog (reference copy)
#   /usr/local/libexec/orderflow/orderflow-lifecycle the drain watcher
#   /etc/orderflow/orderflow.toml.example            a config to start from; user data
#                                                    writes the real /etc/orderflow/orderflow.toml
#   /usr/local/share/doc/orderflow/operations.md     the units' Documentation=
#   /etc/systemd/system/orderflow-*.service          the units
set -euo pipefail
stage=/tmp/orderflow-stage

install -m 0755 -o root -g root "$stage/orderflow" /usr/local/bin/orderflow
/usr/local/bin/orderflow --version

install -d -m 0755 /usr/local/share/orderflow /usr/local/libexec/orderflow /etc/orderflow \
    /usr/local/share/doc/orderflow
install -m 0644 "$stage/operations.md" /usr/local/share/doc/orderflow/operations.md
rm -rf /usr/local/share/orderflow/static
cp -R "$stage/static" /usr/local/share/orderflow/static
chown -R root:root /usr/local/share/orderflow
chmod -R u=rwX,go=rX /usr/local/share/orderflow
install -m 0644 "$stage/products.json" /usr/local/share/orderflow/products.json
install -m 0755 "$stage/orderflow-lifecycle" /usr/local/libexec/orderflow/orderflow-lifecycle
install -m 0644 "$stage/orderflow.toml.example" /etc/orderflow/orderflow.toml.example
/usr/local/bin/orderflow --config /etc/orderflow/orderflow.toml.example check-config >/dev/null

for unit in "$stage"/systemd/*.service; do
    install -m 0644 "$unit" "/etc/systemd/system/$(basename "$unit")"
done
systemctl daemon-reload
systemd-analyze verify /etc/systemd/system/orderflow-*.service
systemctl enable orderflow-serve.service orderflow-worker.service orderflow-lifecycle.service
