#!/bin/sh
# Entrypoint of the billing portal image (see the Dockerfile).
#
#   web [ARGS]          gunicorn on 0.0.0.0:8000 (the image's default command); ARGS go to gunicorn
#   web-migrate [ARGS]  `manage.py migrate` and `collectstatic`, then the same gunicorn
#                       (docker-compose.yml's web service; run it on one instance only, since
#                       two instances migrating at once race each other)
#   -OPTION ...         gunicorn with those options, e.g. `docker run IMAGE --log-level debug`
#   anything else       run as given, e.g. `celery -A billing_portal worker -l INFO`,
#                       `python manage.py createsuperuser`
#
# gunicorn's knobs: GUNICORN_WORKERS (default 3), GUNICORN_THREADS (1), GUNICORN_TIMEOUT (60 s;
# PDF exports render in the request). GUNICORN_CMD_ARGS is read by gunicorn itself. No access
# log: the application writes one JSON line per request with its request id (billing_portal/logs.py).
set -eu

run_gunicorn() {
    exec gunicorn billing_portal.wsgi:application \
        --config /app/docker/gunicorn.conf.py \
        --bind 0.0.0.0:8000 \
        --workers "${GUNICORN_WORKERS:-3}" \
        --threads "${GUNICORN_THREADS:-1}" \
        --timeout "${GUNICORN_TIMEOUT:-60}" \
        --worker-tmp-dir /dev/shm \
        --error-logfile - \
        "$@"
}

if [ "$#" -eq 0 ]; then
    set -- web
fi

case "$1" in
    web)
        shift
        run_gunicorn "$@"
        ;;
    web-migrate)
        shift
        python manage.py migrate --noinput
        python manage.py collectstatic --noinput
        run_gunicorn "$@"
        ;;
    -*)
        run_gunicorn "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
