# Almanac: a two-stage build. The runtime image holds only the binary (SQLite is bundled; TLS is
# rustls, so no OpenSSL).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p almanac-api --bin almanac

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 almanac && mkdir /data && chown almanac /data
COPY --from=build /src/target/release/almanac /usr/local/bin/almanac
USER almanac
WORKDIR /data
ENV ALMANAC_LISTEN=0.0.0.0:8080 DATABASE_URL=sqlite:/data/almanac.db
EXPOSE 8080
HEALTHCHECK CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["almanac"]
CMD ["serve"]
