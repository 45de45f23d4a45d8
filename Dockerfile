# Container image for consent-gate: `docker build -t consent-gate:0.1.0 .`
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/consent-gate /usr/local/bin/consent-gate
COPY --from=build /src/conf/rules /usr/share/consent-gate/rules
ENTRYPOINT ["/usr/local/bin/consent-gate"]
CMD ["run", "--config", "/etc/consent-gate/config.toml"]
