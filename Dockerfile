# Payment engine image: build on Debian 12, run on a slim Debian 12 with only the shared
# libraries the binary needs. Works with the classic builder and BuildKit alike.

# ---- build stage --------------------------------------------------------------------------
# cpp-httplib (and the OpenSSL, zlib and brotli it pulls in) is only for configuring the test
# tree: the engine talks HTTP through net/ alone, so the runtime image does without them.
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libpqxx-dev libpq-dev libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev \
      libsimdjson-dev libconcurrentqueue-dev libfmt-dev doctest-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole CMake tree is needed to configure (bench/ and tests/ are add_subdirectory'd),
# but only the engine target is built.
COPY CMakeLists.txt ./
COPY queue/  queue/
COPY net/    net/
COPY engine/ engine/
COPY sql/    sql/
COPY bench/  bench/
COPY tests/  tests/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target payment_engine -j"$(nproc)" \
 && strip build/payment_engine

# ---- runtime stage ------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 libsimdjson14 libfmt9 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --uid 10001 engine

COPY --from=build /src/build/payment_engine /usr/local/bin/payment_engine
# Fail the image build (not the first request) if a shared library is missing at run time.
RUN if ldd /usr/local/bin/payment_engine | grep -q 'not found'; then \
      ldd /usr/local/bin/payment_engine; echo 'missing runtime library' >&2; exit 1; fi

ENV LISTEN_ADDR=0.0.0.0:8080
USER engine
EXPOSE 8080
CMD ["/usr/local/bin/payment_engine"]
