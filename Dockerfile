# syntax=docker/dockerfile:1
# synthex container image: a Rust builder stage and a small distroless runtime stage.
#
#   docker build --build-arg SYNTHEX_REVISION="$(git rev-parse --short=12 HEAD)" -t synthex:0.1.0 .
#   docker run --rm -p 9577:9577 -v "$PWD/config/demo.yml:/etc/synthex/synthex.yml:ro" synthex:0.1.0
#
# The runtime image has no shell, curl or wget: a container healthcheck runs synthex itself,
#   synthex healthcheck --url=http://127.0.0.1:9577/-/ready    (exit 0 on a 200 answer)

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
# build.rs passes link/daemon.ld to the linker (the daemon's code placed together), whose names
# are in the symbol mangling .cargo/config.toml selects.
COPY .cargo .cargo
COPY link link
COPY assets assets
COPY benches benches
COPY config config
COPY src src
# build.rs embeds this as the revision of synthex_build_info and --version (no .git in here).
ARG SYNTHEX_REVISION=unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/synthex /out/synthex

# cc-debian12: glibc, libgcc and CA certificates (for HTTPS targets), same Debian as the builder.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/synthex /usr/local/bin/synthex
# The distroless "nonroot" user (uid 65532); never root.
USER 65532:65532
EXPOSE 9577
ENTRYPOINT ["/usr/local/bin/synthex"]
CMD ["run", "--config.file=/etc/synthex/synthex.yml"]
