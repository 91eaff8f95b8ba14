#!/bin/sh
# Fill the ${VAR} placeholders of alertmanager.yml from the environment and write the
# result, with the templates beside it: Alertmanager 0.25 cannot read its WeChat secret
# or webhook URL from the environment or a file, and secrets must not be committed.
# POSIX sh + sed only (runs in the busybox-based prom/alertmanager image and in the tests).
#   usage: render.sh SOURCE_DIR TARGET_DIR   (then: alertmanager --config.file=TARGET_DIR/alertmanager.yml)
# Every variable must be set; a missing one stops here with its name, before
# Alertmanager would start on a half-filled configuration.
set -eu
source=$1/alertmanager.yml
mkdir -p "$2/templates"
target=$2/alertmanager.yml
script=""
for name in ALERT_WEBHOOK_URL WECHAT_API_URL WECHAT_CORP_ID WECHAT_API_SECRET WECHAT_AGENT_ID; do
    eval "value=\${$name-}"
    if [ -z "$value" ]; then
        echo "render.sh: environment variable $name is not set" >&2
        exit 2
    fi
    # The placeholders sit in single-quoted YAML strings: a quote is doubled. Then
    # escape what sed's replacement treats specially: backslash, the | delimiter, &.
    escaped=$(printf '%s' "$value" | sed -e "s/'/''/g" -e 's/[\\|&]/\\&/g')
    script="${script}s|\${${name}}|${escaped}|g;"
done
sed -e "$script" "$source" > "$target.tmp"
if grep -n '^[^#]*\${[A-Z_]*}' "$target.tmp" >&2; then
    echo "render.sh: placeholders left unfilled in $source (above)" >&2
    rm -f "$target.tmp"
    exit 2
fi
cp "$1"/templates/*.tmpl "$2/templates/"
mv "$target.tmp" "$target"
