#!/bin/sh
# Entrypoint of a Harbour broker (apache/kafka image). Why our own: in KRaft mode the first SCRAM user (the admin
# the init job authenticates as) can only be created when the storage is formatted, and the image's setup
# formats without one. Passwords must be hex (deploy/harbour.env.example), as they are substituted with sed.
set -eu
: "${KAFKA_NODE_ID:?}" "${KAFKA_CLUSTER_ID:?}" "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_CONTROLLER_PASSWORD:?}"
conf=/tmp/harbour-server.properties
sed -e "s|@NODE_ID@|${KAFKA_NODE_ID}|g" \
    -e "s|@ADMIN_PASSWORD@|${KAFKA_ADMIN_PASSWORD}|g" \
    -e "s|@CONTROLLER_PASSWORD@|${KAFKA_CONTROLLER_PASSWORD}|g" \
    /opt/harbour/kafka/broker.properties > "$conf"
# The client configuration of the health check and of the runbook's commands (docker compose exec kafka-1 ...).
cat > /tmp/harbour-admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="harbour-admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPS
chmod 600 "$conf" /tmp/harbour-admin.properties
# --ignore-formatted: a restart keeps its data; the SCRAM record is written only on the first format.
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$conf" \
    --add-scram "SCRAM-SHA-512=[name=harbour-admin,password=${KAFKA_ADMIN_PASSWORD}]"
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
