# syntax=docker/dockerfile:1
# models-processor image: a builder stage installs the pinned wheels into a venv, the final stage copies
# that venv onto a slim Python base. No compilers end up in the final image.
#
# Runtime libraries: every native extension of the pinned wheels (onnxruntime, opencv-python-headless,
# confluent-kafka, pillow, pillow-heif, numpy, shapely, pyclipper) links only glibc, libstdc++, libgcc_s
# and zlib besides the libraries it bundles (checked with readelf -d on the installed wheels); the slim
# base has all of them, so no apt packages are added. The onnxruntime PyPI wheel does not need libgomp1,
# and the headless OpenCV build needs no libGL/libglib.

ARG PYTHON_IMAGE=python:3.11.14-slim-trixie
# checkov:skip=CKV_DOCKER_7: the base image is the pinned ARG above (python:3.11.14-slim-trixie); checkov cannot see through ${PYTHON_IMAGE}

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.txt .
# Binary wheels only: a dependency that would need a compiler fails the build instead of sneaking one in.
RUN pip install --only-binary=:all: -r requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORT_DISABLE_TELEMETRY=1 \
    HOME=/home/app \
    PORT=5000
RUN groupadd --system --gid ${APP_UID} app \
 && useradd --system --uid ${APP_UID} --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY models_processor/ /app/models_processor/
# The OCR models ship inside the rapidocr wheel: load them once at build time to prove they are present
# and loadable without any download (the container may run with a read-only root filesystem).
RUN python -c "from rapidocr import RapidOCR; RapidOCR(); import cv2, onnxruntime; print('ocr models ok', onnxruntime.__version__, cv2.__version__)"
USER ${APP_UID}:${APP_UID}
EXPOSE 5000
# slim has no curl: probe /health with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '5000'), timeout=4).status == 200 else 1)"]
# Exec form: python is PID 1 and receives SIGTERM directly (graceful shutdown, SHUTDOWN_GRACE_SECONDS).
ENTRYPOINT ["python", "-m", "models_processor"]
CMD ["run"]
