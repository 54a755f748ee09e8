#!/bin/sh
# LocalStack BOOT hook (docker-compose.yml mounts it into /etc/localstack/init/boot.d/): installs the
# dns-safeguards plugin (route53:strict, dynamodb:moto, /_dnssg routes) into the image's LocalStack
# venv before LocalStack starts. The plugin source is mounted read-only, so it is built from a copy.
set -eu
rm -rf /tmp/dnssg-plugin
cp -r /opt/dnssg-plugin /tmp/dnssg-plugin
/opt/code/localstack/.venv/bin/python -m pip install -q --no-deps /tmp/dnssg-plugin
