#!/bin/sh
# The topic-init job: SCRAM users, topics and ACLs from the files `harbour deploy` generates from code
# (principals and grants: acls.txt; topics: topics.txt). Every step is idempotent, so the job is simply run again
# after a regeneration. Grants that the files no longer list are reported, not silently kept (see the end).
set -eu
: "${KAFKA_ADMIN_PASSWORD:?}"
dir=/opt/harbour/kafka
bin=/opt/kafka/bin
bootstrap=kafka-1:9092,kafka-2:9092,kafka-3:9092
admin=/tmp/harbour-admin.properties
cat > "$admin" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="harbour-admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPS
chmod 600 "$admin"

echo "== SCRAM users"
grep '^principal ' "$dir/acls.txt" | while read -r _ principal variable; do
    password=$(printenv "$variable" || true)
    if [ -z "$password" ]; then
        echo "missing $variable in deploy/harbour.env (password of $principal)" >&2
        exit 1
    fi
    "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --alter \
        --entity-type users --entity-name "$principal" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=${password}]" > /dev/null
    echo "user $principal"
done

echo "== topics"
grep -v '^#' "$dir/topics.txt" | while read -r name partitions configs; do
    set -- --bootstrap-server "$bootstrap" --command-config "$admin" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" --replication-factor 3
    if [ "$configs" != "-" ]; then
        for config in $(echo "$configs" | tr ',' ' '); do
            set -- "$@" --config "$config"
        done
    fi
    "$bin/kafka-topics.sh" "$@"
done

echo "== ACLs"
grep '^allow ' "$dir/acls.txt" | while read -r _ principal resource pattern name operation; do
    "$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --add \
        --allow-principal "User:$principal" --operation "$operation" \
        "--$resource" "$name" --resource-pattern-type "$pattern" > /dev/null
    echo "allow $principal $operation $resource:$pattern:$name"
done

# Removing a grant is a decision, not a side effect: list what the brokers hold so that an operator compares it
# with acls.txt and removes the extra ones with kafka-acls.sh --remove (deploy/README.md).
echo "== ACLs the brokers hold now"
"$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --list
