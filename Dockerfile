# One image for every Prism process: the default command serves the web app; compose
# runs the Celery worker and beat from the same image with another command.
FROM python:3.12-slim

# gunicorn reads WEB_CONCURRENCY as its number of workers; override it at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=3

# A fixed uid, so files in mounted volumes keep one owner across rebuilds.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin prism \
    && install -d -o prism -g prism /app /app/var /app/var/metrics

WORKDIR /app

# Dependencies first, in their own layer: a source change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=prism:prism . .

USER prism

# settings.py refuses to start without SECRET_KEY when DEBUG is off. This throwaway value
# exists only for this RUN line and never reaches the image's environment; the memory
# broker keeps settings from creating the filesystem broker's folders in the image.
RUN SECRET_KEY=build-only DEBUG=false CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput

# In docker-compose.yml only nginx publishes ports; gunicorn's 8000 stays on the compose
# network, and nginx buffers each request whole before it gets here (slow clients).
EXPOSE 8000

# Plain HTTP on loopback: /healthz is exempt from the HTTPS redirect (SECURE_REDIRECT_EXEMPT).
# No curl in slim images; urlopen raises on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# gunicorn reads ./gunicorn.conf.py (/app) by itself: its hooks keep PROMETHEUS_MULTIPROC_DIR
# tidy for GET /metrics (README, "Metrics and logs").
# Worker: celery -A prism worker -l info   (the threads pool, WORKER_CONCURRENCY=32 reviews
#         at once: a review waits on the model and GitHub; prism/celery.py has the evidence)
# Beat:   celery -A prism beat -l info --schedule /app/var/celerybeat-schedule
# Two threads per worker overlap each webhook's database and Redis round trips
# (benchmarks/webhook_ingest.py measured this shape fastest on two cores).
CMD ["gunicorn", "prism.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--threads", "2", "--access-logfile", "-"]
