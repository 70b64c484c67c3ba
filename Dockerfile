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
# but only the engine and the load balancer are built.
COPY CMakeLists.txt ./
COPY queue/  queue/
COPY net/    net/
COPY engine/ engine/
COPY sql/    sql/
COPY bench/  bench/
COPY tests/  tests/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target payment_engine conn_balancer -j"$(nproc)" \
 && strip build/payment_engine build/conn_balancer

# ---- runtime stage ------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 libsimdjson14 libfmt9 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --uid 10001 engine \
 && install -d -o engine -g engine /run/handoff

# The same image runs the load balancer (docker-compose.yml's lb: conn_balancer). /run/handoff
# is where the engines' hand-over sockets live: a named volume mounted there starts with this
# directory's owner, so the engines (user engine) can create them.
COPY --from=build /src/build/payment_engine /usr/local/bin/payment_engine
COPY --from=build /src/build/conn_balancer /usr/local/bin/conn_balancer
# Fail the image build (not the first request) if a shared library is missing at run time.
RUN for b in payment_engine conn_balancer; do \
      if ldd /usr/local/bin/$b | grep -q 'not found'; then \
        ldd /usr/local/bin/$b; echo 'missing runtime library' >&2; exit 1; fi; done

ENV LISTEN_ADDR=0.0.0.0:8080
USER engine
EXPOSE 8080
CMD ["/usr/local/bin/payment_engine"]
