# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on a distroless base, run as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/tma ./server/cmd/tma \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tma /tma
# Local state (search index; keys and blobs only without KMS and S3).
COPY --from=build --chown=65532:65532 /out/data /var/lib/tma
USER 65532:65532
ENV TMA_LISTEN=0.0.0.0:8080 \
    TMA_DATA_DIR=/var/lib/tma
VOLUME ["/var/lib/tma"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/tma", "healthcheck"]
ENTRYPOINT ["/tma"]
CMD ["serve"]
