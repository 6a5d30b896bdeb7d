#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Start wyoming-polytts with the add-on's options. Wyoming on port 10200; the admin page on
# the ingress port, where requests from the Supervisor's ingress proxy are signed in; state
# in /data. Home Assistant learns of the server from the Supervisor's discovery API, so
# zeroconf stays off.
set -euo pipefail

args=(
    --uri "tcp://0.0.0.0:10200"
    --http-uri "http://0.0.0.0:10201"
    --data-dir /data
    --ingress-proxy 172.30.32.2
    --supervisor-discovery
    --speed "$(bashio::config 'speed')"
)
if bashio::config.has_value 'voice'; then
    args+=(--voice "$(bashio::config 'voice')")
fi
if bashio::config.has_value 'zipvoice_model'; then
    args+=(--zipvoice-model "$(bashio::config 'zipvoice_model')")
fi
if bashio::config.false 'download_models'; then
    args+=(--no-download)
fi
if bashio::config.false 'voice_clones'; then
    args+=(--no-zipvoice)
fi
if bashio::config.false 'speech_recognition'; then
    args+=(--no-transcriber)
fi
if bashio::config.true 'first_clause'; then
    args+=(--first-clause)
fi
if bashio::config.true 'private_metrics'; then
    args+=(--metrics-private)
fi
if bashio::config.true 'debug_logging'; then
    args+=(--debug)
fi
if bashio::config.has_value 'admin_token'; then
    # Through the environment, so the token is not shown in the process list.
    export POLYTTS_ADMIN_TOKEN
    POLYTTS_ADMIN_TOKEN="$(bashio::config 'admin_token')"
fi
if bashio::config.has_value 'api_key'; then
    export POLYTTS_API_KEYS
    POLYTTS_API_KEYS="$(bashio::config 'api_key')"
fi

bashio::log.info "Starting wyoming-polytts"
exec /opt/polytts/bin/wyoming-polytts "${args[@]}"
