# Pentad image: API node (`pentad serve`) or worker (`pentad worker`), chosen by the command.
# llama-cpp-python compiles llama.cpp here, once, in the build stage.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
# portable x86-64-v3, not -march=native: the image must run on CPUs other than the build host's
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# bubblewrap: the namespace sandbox driver; libgomp1: llama.cpp's OpenMP runtime
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV PENTAD_SERVER__HOST=0.0.0.0 \
    PENTAD_SERVER__DATA_DIR=/var/lib/pentad
VOLUME /var/lib/pentad
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD curl -fsS http://127.0.0.1:8000/health || exit 1
CMD ["pentad", "serve"]
