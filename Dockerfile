# syntax=docker/dockerfile:1
#
# codereview-sync: multi-stage build, slim non-root runtime.
#
#   docker build -t codereview-sync .
#   docker run --rm -p 8000:8000 -v codereview-sync:/data \
#     -e CODEREVIEW_SYNC_KEY="$(docker run --rm codereview-sync keygen)" codereview-sync
#
# The default DATABASE_URL is a SQLite file on the /data volume (one replica). For several
# replicas set DATABASE_URL=postgres://... (see service/README.md).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace is needed to resolve it: the service links the action crate's library.
COPY Cargo.toml Cargo.lock ./
COPY action ./action
COPY service ./service
COPY tests ./tests
COPY migrations ./migrations
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p codereview-sync \
    && install -m 0755 target/release/codereview-sync /usr/local/bin/codereview-sync

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to Slack, GitHub and GitLab. Nothing else: no shell tools, no compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home --shell /usr/sbin/nologin app
COPY --from=build /usr/local/bin/codereview-sync /usr/local/bin/codereview-sync
USER app:app
WORKDIR /data
VOLUME ["/data"]
ENV DATABASE_URL=sqlite:///data/codereview-sync.db \
    LISTEN=0.0.0.0:8000 \
    LOG_FORMAT=json
EXPOSE 8000
ENTRYPOINT ["codereview-sync"]
CMD ["serve"]
