# watcherbridge-fakewatcher: the bundled fake Watcher Admin API v2, for local
# runs and tests only. Built by `make images` from the repository root:
#
#   docker build -f deploy/fakewatcher.Dockerfile -t watcherbridge-fakewatcher:dev .
#
# The API key comes from FAKEWATCHER_API_KEY (or --api-key-file FILE added
# after the image name).
FROM scratch
COPY bin/fakewatcher /fakewatcher
COPY bin/healthcheck /healthcheck
USER 65532:65532
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --retries=3 \
    CMD ["/healthcheck", "http://127.0.0.1:8081/_fake/stats"]
ENTRYPOINT ["/fakewatcher", "--listen", "0.0.0.0:8081"]
