#!/bin/sh
# Makes the demo certificates of the secured compose stack (docker-compose.secured.yml): a CA and
# a server certificate for synthex (names synthex, localhost, 127.0.0.1), valid 90 days, in
# DIR (default config/secured/tls). For a real deployment use your own CA or cert-manager:
# synthex re-reads the certificate and key when they change, no restart needed.
#   scripts/secured-certs.sh [DIR]
set -eu
dir=${1:-config/secured/tls}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
  -subj "/CN=synthex demo CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=synthex" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:synthex,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 90 \
  -extfile ext.cnf -out tls.crt 2>/dev/null
rm -f tls.csr ext.cnf ca.srl ca.key
# The distroless image runs as uid 65532: the bind-mounted key must be readable by it.
chmod 0644 tls.key
echo "certificates in $dir: ca.crt (give it to scrapers), tls.crt, tls.key"
