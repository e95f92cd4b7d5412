#!/usr/bin/env bash
# Installs the DLRN API server (dlrn), the dlrnapi client and gunicorn into a
# virtualenv, for scripts/bench/dlrn_baseline.py.  Idempotent: a venv that
# already holds exactly these pins is left alone.
#
#   scripts/bench/setup-dlrn.sh [VENV]        (default: /tmp/dlrn-venv)
#
# Needs a python3 with venv (3.11 preferred: DLRN's API imports
# distutils.util.strtobool, gone from the standard library in 3.12; on 3.12+
# setuptools is added to provide it) and access to PyPI.
#
# The pins are the set verified to serve DLRN 0.26.1's API on 127.0.0.1 with
# the queries of dlrn/api/dlrn_api.py (SQLAlchemy 2.1 and Flask 3.1 work: the
# API uses only session.query(), which 2.x keeps; the 2.x-removed
# Query.from_self() is only in the HTML pages, never called by the benchmark).
set -euo pipefail

VENV="${1:-${DLRN_VENV:-/tmp/dlrn-venv}}"

CONSTRAINTS="$(cat <<'EOF'
alembic==1.20.1
aniso8601==7.0.0
blessings==1.7
blinker==1.9.0
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
distro==1.9.0
distroinfo==0.6.3
DLRN==0.26.1
dlrnapi-client==0.13.1
Flask==3.1.3
Flask-GraphQL==2.0.1
Flask-HTTPAuth==4.8.1
Flask-SQLAlchemy==3.1.1
graphene==2.1.9
graphene-sqlalchemy==2.1.0
graphql-core==2.3.2
graphql-relay==2.0.1
graphql-server-core==1.2.0
gunicorn==27.0.1
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
Mako==1.4.3
MarkupSafe==3.0.4
munch==4.0.0
packaging==26.3
passlib==1.7.4
pbr==7.1.3
prometheus_client==0.26.0
promise==2.3
pycparser==3.12
pymod2pkg==0.28.0
PyMySQL==1.2.4
pyOpenSSL==26.4.0
python-dateutil==4.0.0
PyYAML==6.0.3
rdopkg==1.8.0
renderspec==2.3.0
requests==2.34.2
Rx==1.6.3
sh==1.14.3
singledispatch==4.1.2
six==1.17.0
SQLAlchemy==2.1.9
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
Werkzeug==3.1.9
EOF
)"
STAMP_WANT="$(printf '%s\n' "$CONSTRAINTS" | sha256sum | cut -c1-16)"
STAMP="$VENV/.dlrn-bench-stamp"

smoke() {
    # the API app imports and the client and server entry points exist
    CONFIG_FILE=/nonexistent "$VENV/bin/python" -W ignore -c \
        'import dlrn.api, dlrn.db, dlrnapi_client, passlib.hash' &&
    [ -x "$VENV/bin/dlrnapi" ] && [ -x "$VENV/bin/gunicorn" ]
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_WANT" ] && smoke 2>/dev/null; then
    echo "setup-dlrn: $VENV is ready"
    exit 0
fi

PY=""
for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
done
[ -n "$PY" ] || { echo "setup-dlrn: no python3 found" >&2; exit 1; }
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
echo "setup-dlrn: creating $VENV with $PY ($PYVER)"

rm -rf "$VENV"
"$PY" -m venv "$VENV"
CFILE="$(mktemp)"
trap 'rm -f "$CFILE"' EXIT
printf '%s\n' "$CONSTRAINTS" > "$CFILE"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
EXTRA=()
case "$PYVER" in
    3.[0-9]|3.1[01]) ;;
    *) EXTRA+=(setuptools) ;;       # provides distutils on 3.12+
esac
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$CFILE" \
    DLRN dlrnapi-client gunicorn "${EXTRA[@]}"
smoke
echo "$STAMP_WANT" > "$STAMP"
echo "setup-dlrn: $VENV ready ($("$VENV/bin/pip" show DLRN 2>/dev/null | grep ^Version))"
