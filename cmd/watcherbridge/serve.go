package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stdout)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg.reload = hup
	return serve(ctx, *cfg, log, nil)
}

// addrs tells a caller (tests, the demo) where a started bridge listens.
type addrs struct {
	HTTP  string // host:port of ingest and health
	NATS  string // nats:// URL the bridge uses
	Admin string // host:port of the admin endpoints, empty when disabled
}

// serve runs the bridge until ctx ends, then shuts down in order: stop
// taking pushes, let in-flight messages finish, drain NATS, close the store.
// ready, if not nil, is called once everything is up.
func serve(ctx context.Context, cfg serveConfig, log zerolog.Logger, ready func(addrs)) error {
	metrics := handlers.NewMetrics()
	metrics.Init(events.Topics())
	// Everything that can be refused for its settings is checked before
	// anything starts.
	watcher, err := watcherclient.New(watcherclient.Config{BaseURL: cfg.WatcherURL, APIKey: cfg.watcherAPIKey, Timeout: cfg.WatcherTimeout,
		HTTPClient: &http.Client{Timeout: cfg.WatcherTimeout, Transport: metrics.InstrumentWatcher(http.DefaultTransport)}})
	if err != nil {
		return err
	}
	edge, certs, err := newEdge(cfg, log)
	if err != nil {
		return err
	}
	log.Info().
		Str("data_dir", cfg.DataDir).Str("listen", cfg.Listen).Str("nats_url", redactURL(cfg.NATSURL)).
		Str("watcher_url", redactURL(cfg.WatcherURL)).Bool("watcher_api_key_set", cfg.watcherAPIKey != "").
		Str("unassigned", string(cfg.Unassigned)).Str("inventory", cfg.Inventory).
		Str("version", version).Msg("starting watcherbridge")

	planSet, err := loadPlans(ctx, cfg.Plans, watcher, log)
	if err != nil {
		return err
	}

	slog := log.With().Str("component", "store").Logger()
	db, err := store.Open(filepath.Join(cfg.DataDir, "watcherbridge.db"), store.Options{LockTimeout: 5 * time.Second,
		Log: func(msg string) { slog.Info().Msg(msg) }})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error().Err(err).Msg("close state file")
		}
	}()

	natsToken := ""
	if cfg.NATSTokenFile != "" {
		if natsToken, err = readSecretFile(cfg.NATSTokenFile); err != nil {
			return fmt.Errorf("--nats-token-file: %w", err)
		}
	}
	natsURL := withToken(cfg.NATSURL, natsToken)
	if cfg.NATSURL == "" {
		ns, err := startEmbeddedNATS(cfg.EmbeddedNATSListen, cfg.DataDir, natsToken, log)
		if err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		}()
		natsURL = withToken(ns.ClientURL(), natsToken)
		log.Info().Str("nats_url", redactURL(natsURL)).Msg("embedded JetStream started")
		if natsToken == "" {
			log.Warn().Msg("embedded NATS accepts any client that can reach " + cfg.EmbeddedNATSListen + ": anyone on this host can publish billing events; set --nats-token-file")
		}
	}

	nc, err := connectNATS(natsURL, "watcherbridge", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, events.JetStreamOptions()...)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	prov, err := provision(ctx, js, cfg, log)
	if err != nil {
		return err
	}
	for _, c := range prov.Created {
		log.Info().Msg("created " + c)
	}
	for _, d := range prov.Drift {
		log.Warn().Msg(d + "; keeping the existing configuration")
	}

	// The embedded server takes larger batches (see embedded.go); another
	// server gets the default limit.
	maxBatch := 0
	if cfg.NATSURL == "" {
		maxBatch = events.EmbeddedMaxBatch
	}
	pub := events.NewPublisher(js, maxBatch)
	breaker := handlers.NewBreaker(watcher, handlers.BreakerConfig{
		Failures: uint32(cfg.BreakerFailures),
		OpenFor:  cfg.BreakerOpenFor,
		Grace:    cfg.WatcherGrace,
		OnStateChange: func(from, to string) {
			metrics.BreakerState(to)
			log.Warn().Str("from", from).Str("to", to).Msg("watcher circuit breaker changed state")
		},
	})
	applyLog := log.With().Str("component", "applier").Logger()
	applier := handlers.NewApplier(db, breaker, handlers.ApplierConfig{
		Log:         &applyLog,
		Plans:       planSet,
		Directory:   watcher,
		Unassigned:  cfg.Unassigned,
		MaxBatch:    cfg.BatchSize,
		MaxDelay:    cfg.BatchDelay,
		ImportChunk: cfg.ImportBatch,
	})
	dlqPub, err := events.NewDeadLetterPublisher(nc, log)
	if err != nil {
		return fmt.Errorf("dead-letter publisher: %w", err)
	}
	worker := handlers.NewWorker(applier, events.NewDeadLetters(dlqPub), log,
		handlers.WorkerConfig{MaxDeliveries: uint64(cfg.MaxDeliveries), AckWait: cfg.AckWait, Attempts: db, Metrics: metrics, Ledger: db})
	metrics.Register(events.NewLagCollector(js), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "watcherbridge_store_bytes", Help: "Size of the state file.",
	}, func() float64 { return float64(db.Size()) }))

	// The applier outlives the router: in-flight handlers need it while the
	// router drains, so it gets its own context, canceled last.
	applierCtx, stopApplier := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApplier()
	var workers errgroup.Group
	workers.Go(func() error { return applier.Run(applierCtx) })
	defer workers.Wait()
	reconciler := handlers.NewReconciler(applier, watcher, log.With().Str("component", "reconcile").Logger())
	metrics.Register(reconciler.Collectors()...)
	// The scheduled reconciliation is stopped on every way out of serve
	// (deferred after workers.Wait, so it runs before it).
	reconcileCtx, stopReconcile := context.WithCancel(ctx)
	defer stopReconcile()
	if cfg.ReconcileEvery > 0 {
		workers.Go(func() error { reconciler.Every(reconcileCtx, cfg.ReconcileEvery); return nil })
	}

	router, workerConn, err := newRouter(cfg, natsURL, worker, log)
	if err != nil {
		stopApplier()
		return err
	}
	defer workerConn.Close()
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-router.Running():
	case err := <-routerDone:
		stopApplier()
		return fmt.Errorf("worker router: %w", err)
	case <-ctx.Done():
	}

	if cfg.Inventory != "" {
		if err := publishInventory(ctx, pub, cfg.Inventory, log); err != nil {
			log.Error().Err(err).Msg("inventory not published")
		}
	}

	mux := http.NewServeMux()
	natsReady := func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("not connected to NATS (%s)", nc.Status())
		}
		return nil
	}
	mux.Handle("/activations", edge.Wrap(handlers.NewIngest(pub, handlers.IngestConfig{MaxBodyBytes: cfg.MaxBodyBytes, Ready: natsReady, Metrics: metrics},
		log.With().Str("component", "ingest").Logger())))
	mux.Handle("/events", edge.Wrap(handlers.NewEvents(pub, handlers.EventsConfig{MaxBodyBytes: cfg.MaxBodyBytes, Ready: natsReady, Plans: planSet},
		log.With().Str("component", "events").Logger())))
	mux.HandleFunc("/healthz", handlers.Healthz)
	mux.Handle("/metrics", metrics.Handler())
	mux.Handle("/readyz", handlers.Readyz(
		handlers.Check{Name: "nats", Fn: func(context.Context) error { return natsReady() }},
		handlers.Check{Name: "store", Fn: func(context.Context) error {
			return db.View(func(*store.Tx) error { return nil })
		}},
		handlers.Check{Name: "watcher", Fn: func(context.Context) error {
			return errors.Join(applier.Health(), breaker.Health())
		}},
		handlers.Check{Name: "worker", Fn: func(ctx context.Context) error {
			if !router.IsRunning() || router.IsClosed() {
				return errors.New("worker router is not running")
			}
			// A consumer deleted under a running bridge stops its topic
			// for good (the subscriber only logs); say so here. Other
			// lookup errors are the NATS check's business.
			for _, topic := range events.Topics() {
				name := events.ConsumerName(topic)
				if _, err := js.Consumer(ctx, events.Stream, name); errors.Is(err, jetstream.ErrConsumerNotFound) {
					return fmt.Errorf("consumer %s of %s was deleted: restart the bridge to recreate it (events already handled are skipped)", name, topic)
				}
			}
			return nil
		}},
	))
	var tlsConfig *tls.Config
	if certs != nil {
		tlsConfig = certs.TLSConfig()
	}
	// The write timeout covers the largest push (100,000 rows) being stored.
	ingest, err := startHTTP(cfg.Listen, "--listen", mux, 2*time.Minute, tlsConfig)
	if err != nil {
		_ = router.Close()
		stopApplier()
		return err
	}
	log.Info().Str("listen", ingest.addr).Msg("ingest listening")
	servers := []*httpServer{ingest}
	adminAddr := ""
	if cfg.AdminListen != "" {
		amux := http.NewServeMux()
		amux.Handle("/admin/store/backup", handlers.StoreBackup(db, log.With().Str("component", "admin").Logger()))
		handlers.NewAdminAPI(handlers.AdminAPIConfig{
			DB:            db,
			Desired:       handlers.DesiredConfig{Unassigned: cfg.Unassigned, Plans: planSet},
			Streams:       jsStatus{js: js},
			WatcherHealth: func() error { return errors.Join(applier.Health(), breaker.Health()) },
			Circuit:       breaker.State,
			NATS:          natsReady,
			Probe: func(ctx context.Context) error {
				_, err := watcher.ListCameras(ctx, watcherclient.ListOptions{Limit: 1})
				return err
			},
			Replayer:   handlers.NewReplayer(applier, jsEvents{js: js}, log.With().Str("component", "replay").Logger()),
			Reconciler: reconciler,
			Stop:       ctx.Done(),
			Log:        log.With().Str("component", "admin").Logger(),
		}).Register(amux)
		// No write timeout: a backup of a large state file takes longer
		// than a push.
		admin, err := startHTTP(cfg.AdminListen, "--admin-listen", amux, 0, nil)
		if err != nil {
			ingest.srv.Close()
			_ = router.Close()
			stopApplier()
			return err
		}
		servers = append(servers, admin)
		adminAddr = admin.addr
		log.Info().Str("listen", adminAddr).Msg("admin listening")
	}
	if cfg.reload != nil || cfg.ReloadEvery > 0 {
		go reloadSecrets(ctx, cfg, watcher, edge, certs, log)
	}
	if ready != nil {
		ready(addrs{HTTP: ingest.addr, NATS: natsURL, Admin: adminAddr})
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-ingest.done:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-routerDone:
		runErr = fmt.Errorf("worker router stopped: %w", err)
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if err := hs.srv.Shutdown(shutdownCtx); err != nil {
			log.Warn().Err(err).Str("listen", hs.addr).Msg("http shutdown")
		}
	}
	// Closing the router closes the subscriber: it stops pulling, gives
	// back what it pulled but did not hand out, and waits for the handlers
	// to settle the rest, which needs the applier still running.
	if err := router.Close(); err != nil {
		log.Debug().Err(err).Msg("router close")
	}
	if err := workerConn.Drain(); err != nil {
		log.Debug().Err(err).Msg("drain worker connection")
	}
	stopReconcile()
	stopApplier()
	if err := workers.Wait(); err != nil {
		log.Warn().Err(err).Msg("applier")
	}
	if err := nc.Drain(); err != nil {
		log.Warn().Err(err).Msg("nats drain")
	}
	log.Info().Msg("stopped")
	return runErr
}

func provision(ctx context.Context, js jetstream.JetStream, cfg serveConfig, log zerolog.Logger) (events.ProvisionResult, error) {
	// A cluster that is still electing leaders answers "unavailable" for a
	// few seconds; retry within a bound instead of failing the start.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := events.Provision(pctx, js, cfg.Replicas, cfg.DeadLetterMaxAge, cfg.AckWait, cfg.MaxAckPending)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				err = fmt.Errorf("provision JetStream streams and consumers (is NATS running and reachable? check --nats-url): %w", err)
			}
			return res, err
		}
		log.Warn().Err(err).Msg("waiting for NATS JetStream before starting; retrying for up to a minute")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// dialNATS is how commands (publish, dlq, the demo) connect: one attempt,
// so a wrong URL or token is an error at once instead of a command that
// waits forever.
func dialNATS(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.Timeout(5*time.Second), nats.MaxReconnects(3))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", redactURL(url), err)
	}
	return nc, nil
}

// connectNATS opens a connection that reconnects forever: the bridge must
// ride out broker restarts, not exit.
func connectNATS(url, name string, log zerolog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(true),
		// Notice a dead connection in seconds, not the default two
		// minutes, so ingest answers 503 and /readyz fails promptly.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Str("connection", name).Msg("disconnected from NATS")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("connection", name).Str("url", c.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
	}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", redactURL(url), err)
	}
	return nc, nil
}

// newRouter builds the Watermill router: one handler per topic, all fed by
// one PullSubscriber on a connection of their own, so that draining it at
// shutdown leaves the connection used for publishing (dead letters) open.
func newRouter(cfg serveConfig, natsURL string, worker *handlers.Worker, log zerolog.Logger) (*message.Router, *nats.Conn, error) {
	wlog := events.NewWatermillLogger(log)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, wlog)
	if err != nil {
		return nil, nil, err
	}
	nc, err := connectNATS(natsURL, "watcherbridge-worker", log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, events.Stream)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("stream %s: %w", events.Stream, err)
	}
	sub := events.NewPullSubscriber(stream, events.PullConfig{
		InFlight:     cfg.Concurrency,
		CloseTimeout: cfg.ShutdownTimeout,
		// Capped at 30s: once Watcher is back (the breaker probes every
		// --breaker-open-for), waiting events should follow within seconds.
		NakDelay: events.Backoff{Base: time.Second, Max: 30 * time.Second},
		Skip:     worker.Skip,
	}, log.With().Str("component", "worker").Logger())
	for _, topic := range events.Topics() {
		router.AddConsumerHandler("apply-"+topic, topic, sub, worker.Handle)
	}
	return router, nc, nil
}

// publishInventory publishes billing's stock list as camera.assigned events.
// Each event's id comes from the row and the file's modification time, and
// its time is that modification time: restarting with the same file adds
// nothing, and an edited file is newer than what it replaces, but older than
// any live billing event sent after the edit.
func publishInventory(ctx context.Context, pub *events.Publisher, path string, log zerolog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--inventory: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--inventory: %w", err)
	}
	rows, bad, err := events.ParseInventory(f)
	if err != nil {
		return fmt.Errorf("--inventory %s: %w", path, err)
	}
	for _, b := range bad {
		log.Error().Str("file", path).Int("line", b.Line).Str("reason", b.Reason).Msg("inventory line skipped: fix it and restart")
	}
	mtime := fi.ModTime().UTC()
	msgs := make([]events.Outgoing, 0, len(rows))
	for _, r := range rows {
		id := r.Assignment.ID(mtime.Format(time.RFC3339Nano))
		env, err := events.NewEnvelope(events.CameraAssigned, id, r.Assignment.AgentSerial, mtime, r.Assignment)
		if err != nil {
			return fmt.Errorf("--inventory line %d: %w", r.Line, err)
		}
		env.Source = events.DefaultSource + ":inventory"
		data, err := env.Encode()
		if err != nil {
			return err
		}
		msgs = append(msgs, events.Outgoing{Subject: events.CameraAssigned, ID: id, Data: data})
	}
	dups, err := pub.PublishAll(ctx, msgs)
	if err != nil {
		return fmt.Errorf("publish inventory: %w", err)
	}
	n := 0
	for _, d := range dups {
		if d {
			n++
		}
	}
	log.Info().Str("file", path).Int("rows", len(rows)).Int("duplicate", n).Int("skipped", len(bad)).Msg("inventory published")
	return nil
}

// redactURL hides a password in a NATS URL.
func redactURL(u string) string {
	if i, j := indexOf(u, "://"), indexOf(u, "@"); i >= 0 && j > i {
		return u[:i+3] + "***@" + u[j+1:]
	}
	return u
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// httpServer is one of the bridge's listeners.
type httpServer struct {
	srv  *http.Server
	addr string
	done chan error
}

// startHTTP listens on addr and serves h in the background; flag names the
// setting to fix when the address is unusable.
func startHTTP(addr, flag string, h http.Handler, writeTimeout time.Duration, tlsConfig *tls.Config) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	hs := &httpServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       120 * time.Second,
		},
		addr: ln.Addr().String(),
		done: make(chan error, 1),
	}
	go func() { hs.done <- hs.srv.Serve(ln) }()
	return hs, nil
}

// reloadSecrets re-reads keys kept in files on SIGHUP (cfg.reload) and
// every cfg.ReloadEvery, so a rotated key (a Kubernetes secret updated in
// place, a new credentials file, a renewed certificate) is picked up
// without a restart. Only a change is applied and logged; a file that
// cannot be read keeps what was in use.
func reloadSecrets(ctx context.Context, cfg serveConfig, watcher *watcherclient.Client, edge *handlers.Edge, certs *handlers.CertReloader, log zerolog.Logger) {
	var tick <-chan time.Time
	if cfg.ReloadEvery > 0 {
		t := time.NewTicker(cfg.ReloadEvery)
		defer t.Stop()
		tick = t.C
	}
	seen := map[string][32]byte{}
	changed := func(files ...string) bool {
		diff := false
		for _, f := range files {
			if f == "" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue // reported when applied
			}
			sum := sha256.Sum256(b)
			if old, ok := seen[f]; !ok || old != sum {
				diff = diff || ok // the first look only records
				seen[f] = sum
			}
		}
		return diff
	}
	changed(cfg.WatcherAPIKeyFile, cfg.IngestTokenFile, cfg.IngestBasicFile, cfg.TLSCert, cfg.TLSKey)
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-cfg.reload:
			forced = true
		case <-tick:
		}
		if cfg.WatcherAPIKeyFile != "" && (changed(cfg.WatcherAPIKeyFile) || forced) {
			if key, err := readSecretFile(cfg.WatcherAPIKeyFile); err != nil {
				log.Error().Err(err).Msg("reload: keeping the current Watcher API key")
			} else {
				watcher.SetAPIKey(key)
				log.Info().Str("file", cfg.WatcherAPIKeyFile).Msg("reload: Watcher API key re-read")
			}
		}
		if (cfg.IngestTokenFile != "" || cfg.IngestBasicFile != "") && (changed(cfg.IngestTokenFile, cfg.IngestBasicFile) || forced) {
			if tokens, basic, err := readIngestCredentials(cfg.IngestTokenFile, cfg.IngestBasicFile); err != nil {
				log.Error().Err(err).Msg("reload: keeping the current ingest credentials")
			} else {
				edge.SetCredentials(tokens, basic)
				log.Info().Int("tokens", len(tokens)).Int("basic_users", len(basic)).Msg("reload: ingest credentials re-read")
			}
		}
		if certs != nil && (changed(cfg.TLSCert, cfg.TLSKey) || forced) {
			if err := certs.Reload(); err != nil {
				log.Error().Err(err).Msg("reload: keeping the current TLS certificate")
			} else {
				log.Info().Msg("reload: TLS certificate re-read")
			}
		}
	}
}

// newEdge builds who-may-push from the configuration.
func newEdge(cfg serveConfig, log zerolog.Logger) (*handlers.Edge, *handlers.CertReloader, error) {
	tokens, basic, err := readIngestCredentials(cfg.IngestTokenFile, cfg.IngestBasicFile)
	if err != nil {
		return nil, nil, err
	}
	allow, err := handlers.ParseAllowList(cfg.Allow)
	if err != nil {
		return nil, nil, err
	}
	trust, err := handlers.ParseTrustProxy(cfg.TrustProxy)
	if err != nil {
		return nil, nil, err
	}
	edge, err := handlers.NewEdge(handlers.EdgeConfig{
		Tokens: tokens, Basic: basic, InsecureNoAuth: cfg.InsecureNoAuth,
		Allow: allow, TrustProxy: trust, RatePerSecond: cfg.RateLimit, Burst: cfg.RateBurst,
	}, log.With().Str("component", "edge").Logger())
	if err != nil {
		return nil, nil, err
	}
	if cfg.TLSCert == "" {
		return edge, nil, nil
	}
	certs, err := handlers.NewCertReloader(cfg.TLSCert, cfg.TLSKey)
	return edge, certs, err
}

// withToken puts a NATS token into every URL of a comma-separated list,
// unless a URL already carries credentials. nats.go reads a token from the
// URL's user part, so every connection (ours and the CLI's) authenticates
// the same way.
func withToken(urls, token string) string {
	if token == "" || urls == "" {
		return urls
	}
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		u = strings.TrimSpace(u)
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			scheme, rest = "nats", u
		}
		if !strings.Contains(rest, "@") {
			u = scheme + "://" + url.User(token).String() + "@" + rest
		}
		parts[i] = u
	}
	return strings.Join(parts, ",")
}

// natsFlags adds the NATS connection flags every command that talks to the
// bridge's NATS shares, and returns a function giving the URL to dial.
func natsFlags(fs *flag.FlagSet) func() (string, error) {
	u := fs.String("nats-url", defaultNATSURL, "NATS server of the bridge (a token may be given as nats://TOKEN@host:port)")
	tokenFile := fs.String("nats-token-file", "", "file holding the NATS token (the bridge's --nats-token-file)")
	return func() (string, error) {
		if *tokenFile == "" {
			return *u, nil
		}
		tok, err := readSecretFile(*tokenFile)
		if err != nil {
			return "", fmt.Errorf("--nats-token-file: %w", err)
		}
		return withToken(*u, tok), nil
	}
}
