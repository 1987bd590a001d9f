# dx-conformance in a container: `docker build -t dx-conformance .`, then
# `docker run --rm dx-conformance run --target https://staging.example.com`.
# The builder runs the same build command as CI (.ci/build-cli.sh, with --release); the
# toolchain is the one rust-toolchain.toml pins (it adds the wasm32 target, so the embedded
# reference serves its client), and binaryen's wasm-opt shrinks that client as in CI.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends binaryen \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN .ci/build-cli.sh --release

# The binary carries the spec, the features and the reference it can run in-process; it needs
# OpenSSL (native TLS) and the CA certificates to reach an HTTPS deployment.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 conformance
COPY --from=build /src/target/release/dx-conformance /usr/local/bin/dx-conformance
USER conformance
WORKDIR /work
ENTRYPOINT ["dx-conformance"]
CMD ["--help"]
