# syntax=docker/dockerfile:1
# One image for every role (docs/deployment.md, "Containers: Dockerfile and compose"):
#   web        gunicorn -c gunicorn.conf.py   (the default command)
#   scheduler  consent-server scheduler
#   worker     celery -A consent_server.scans.tasks worker ...   (needs Chromium)
#   migrate    consent-server db upgrade
#
#   docker build -t consent-manager .                                    # every role
#   docker build --build-arg WITH_CHROMIUM=0 -t consent-manager:web .    # no worker role
FROM python:3.11-slim

# 1: the Debian Chromium and ChromeDriver that the scan workers drive (Playwright and Selenium
# engines). 0 leaves them out, some 300 MB, for an image that only runs web, scheduler and
# migrate while the workers run the full image.
ARG WITH_CHROMIUM=1

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# tini runs as PID 1: it hands SIGTERM to the real process (graceful shutdown) and reaps the
# browser processes a scan leaves behind. fonts-liberation: pages laid out with real metrics,
# as the scanner's banner detection expects.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && if [ "$WITH_CHROMIUM" = 1 ]; then \
        apt-get install -y --no-install-recommends chromium chromium-driver fonts-liberation; \
    fi \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so volumes and Kubernetes' runAsNonRoot can check it. The key folder is
# created here, owned by that user: an empty named volume mounted on it starts with this owner.
RUN groupadd --system --gid 10001 consent \
 && useradd --system --uid 10001 --gid consent --create-home --home-dir /home/consent \
        --shell /usr/sbin/nologin consent \
 && install -d -o consent -g consent -m 0700 /var/lib/consent/keys

WORKDIR /app
COPY . .
# Editable on purpose: migrations/ and static/banner/dist (the committed banner build) sit
# beside the packages and the code finds them relative to its own files, so the code must run
# from this tree. instance/ (excluded from the build context) is where Flask looks for
# instance/config.py; it must exist, and be writable for the SQLite default.
RUN pip install -e ".[server,scanner,celery]" \
 && install -d -o consent -g consent /app/instance

ENV CONSENT_KEYS_DIR=/var/lib/consent/keys \
    GUNICORN_HOST=0.0.0.0 \
    PORT=8000

USER 10001:10001
EXPOSE 8000

# Only the web role listens; compose.yaml turns this off for the others. http.client instead of
# urllib: an HTTP(S)_PROXY set for the scans must not send the probe elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import http.client, os; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('PORT', '8000')), timeout=4); c.request('GET', '/healthz'); raise SystemExit(c.getresponse().status != 200)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
