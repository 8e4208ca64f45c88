package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
)

// startEmbeddedNATS runs a single JetStream server in-process, on loopback so
// the nats CLI and our own commands can reach it, storing under dataDir.
//
// SyncAlways makes the server fsync before it acknowledges a publish: by
// default file storage syncs every two minutes, and an acknowledged push
// must survive a power cut. A cluster relies on replication instead.
func startEmbeddedNATS(listen, dataDir, token string, log zerolog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--embedded-nats-listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--embedded-nats-listen %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "watcherbridge-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		SyncAlways: true,
		// A push is published as one atomic batch (one fsync) up to this
		// many rows.
		JetStreamLimits: server.JSLimitOpts{MaxBatchSize: events.EmbeddedMaxBatch},
		NoSigs:          true,
		// With a token, every client (the bridge's own connections, the
		// CLI, the nats tool) must present it.
		Authorization: token,
		// The server's own startup banner is noise in our logs; its
		// warnings and errors are kept.
		NoLog: false,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log: log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start listening on %s within 30s: is the port taken? use --embedded-nats-listen 127.0.0.1:0", listen)
	}
	return ns, nil
}

// natsLogger routes the embedded server's warnings and errors to zerolog.
type natsLogger struct{ log zerolog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
