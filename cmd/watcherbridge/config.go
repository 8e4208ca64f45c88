package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/handlers"
)

// envPrefix starts the environment variable of every flag: --data-dir is
// WATCHERBRIDGE_DATA_DIR.
const envPrefix = "WATCHERBRIDGE_"

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags applies environment defaults, then the command line, so flags
// win over the environment and -h lists every knob with its variable.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var bad []string
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + envName(f.Name) + ")"
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				bad = append(bad, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
			}
		}
	})
	if len(bad) > 0 {
		return errors.New("bad environment: " + strings.Join(bad, "; "))
	}
	return fs.Parse(args)
}

// serveConfig is everything `serve` needs, validated once.
type serveConfig struct {
	DataDir            string
	Listen             string
	AdminListen        string
	NATSURL            string
	EmbeddedNATSListen string
	NATSTokenFile      string
	ReloadEvery        time.Duration
	WatcherURL         string
	watcherAPIKey      string // secret: never printed
	WatcherAPIKeyFile  string
	Inventory          string
	Plans              string
	Unassigned         handlers.Unassigned
	MaxBodyBytes       int64
	LogFormat          string
	LogLevel           string
	ShutdownTimeout    time.Duration
	Concurrency        int
	MaxAckPending      int
	AckWait            time.Duration
	BatchSize          int
	ImportBatch        int
	BatchDelay         time.Duration
	MaxDeliveries      int
	DeadLetterMaxAge   time.Duration
	Replicas           int
	WatcherTimeout     time.Duration
	BreakerFailures    int
	BreakerOpenFor     time.Duration
	WatcherGrace       time.Duration
	ReconcileEvery     time.Duration
	IngestTokenFile    string
	IngestBasicFile    string
	InsecureNoAuth     bool
	Allow              string
	TrustProxy         string
	RateLimit          float64
	RateBurst          int
	TLSCert            string
	TLSKey             string
	// reload delivers a value each time secrets should be re-read from
	// their files (SIGHUP); nil in tests that do not need it.
	reload <-chan os.Signal
}

func serveFlags(fs *flag.FlagSet) (*serveConfig, *string, *string) {
	c := &serveConfig{}
	var unassigned, apiKey string
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the state file and, in embedded mode, the JetStream store")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address of the ingest and health endpoints")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:8090", "admin endpoints for operators' commands (store backup); keep it on loopback or a private network; empty disables")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS server or cluster (comma-separated URLs); empty starts an embedded JetStream server")
	fs.DurationVar(&c.ReloadEvery, "reload-every", 30*time.Second, "how often key, token and certificate files are checked for changes (0: only on SIGHUP)")
	fs.StringVar(&c.NATSTokenFile, "nats-token-file", "", "file holding a NATS token: the embedded server requires it from every client; an external server is sent it")
	fs.StringVar(&c.EmbeddedNATSListen, "embedded-nats-listen", "127.0.0.1:4222", "where the embedded NATS server listens (port 0 picks a free one)")
	fs.StringVar(&c.WatcherURL, "watcher-url", "", "base URL of Watcher, e.g. https://watcher.example (required)")
	fs.StringVar(&apiKey, "watcher-api-key", "", "Watcher system API key (prefer --watcher-api-key-file)")
	fs.StringVar(&c.WatcherAPIKeyFile, "watcher-api-key-file", "", "file holding the Watcher system API key")
	fs.StringVar(&c.IngestTokenFile, "ingest-token-file", "", "file of bearer tokens accepted on /activations, one per line (several allow rotation)")
	fs.StringVar(&c.IngestBasicFile, "ingest-basic-file", "", "file of HTTP basic credentials accepted on /activations, one user:password per line")
	fs.BoolVar(&c.InsecureNoAuth, "insecure-no-auth", false, "accept pushes without credentials (only when none are configured; logs a warning)")
	fs.StringVar(&c.Allow, "allow", "", "client networks allowed to push, comma-separated CIDRs or addresses; empty allows all")
	fs.StringVar(&c.TrustProxy, "trust-proxy", "", "networks of reverse proxies whose X-Forwarded-For is believed")
	fs.Float64Var(&c.RateLimit, "rate-limit", 20, "requests per second allowed per client on /activations (0 disables)")
	fs.IntVar(&c.RateBurst, "rate-burst", 40, "requests a client may send at once above --rate-limit")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "certificate (PEM) to serve ingest over HTTPS; re-read on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&c.Inventory, "inventory", "", "billing stock list (CSV) published as camera.assigned events at start-up")
	fs.StringVar(&c.Plans, "plans", "", "plans file (YAML or JSON) mapping billing plan ids to Watcher presets and rules")
	fs.StringVar(&unassigned, "unassigned", "hold", "what to do with an activated camera billing has not assigned: hold or default")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 32<<20, "largest activation push accepted (413 above it)")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or console")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for in-flight work")
	fs.IntVar(&c.Concurrency, "concurrency", 1024, "messages of one topic pulled at once and handled together (they are committed in groups)")
	fs.IntVar(&c.MaxAckPending, "max-ack-pending", 4096, "JetStream max unacknowledged messages per consumer (at least --concurrency)")
	fs.DurationVar(&c.AckWait, "ack-wait", 30*time.Second, "JetStream redelivers a message not acknowledged within this time")
	fs.IntVar(&c.BatchSize, "batch-size", 1000, "most events committed in one store transaction and import group")
	fs.IntVar(&c.ImportBatch, "import-batch", 1000, "most cameras in one POST /cameras/import")
	fs.DurationVar(&c.BatchDelay, "batch-delay", 10*time.Millisecond, "longest wait for more events to fill a group")
	fs.IntVar(&c.MaxDeliveries, "max-deliveries", 10, "deliveries after which an unclassified failure goes to the dead letters")
	fs.DurationVar(&c.DeadLetterMaxAge, "dead-letter-max-age", 30*24*time.Hour, "how long dead letters are kept")
	fs.IntVar(&c.Replicas, "stream-replicas", 1, "replicas of streams the bridge creates (3 on a cluster)")
	fs.DurationVar(&c.WatcherTimeout, "watcher-timeout", 15*time.Second, "timeout of one Watcher request")
	fs.IntVar(&c.BreakerFailures, "breaker-failures", 5, "Watcher failures in a row (timeouts, 5xx, 429) that open the circuit")
	fs.DurationVar(&c.BreakerOpenFor, "breaker-open-for", 15*time.Second, "how long the circuit stays open before a probe")
	fs.DurationVar(&c.WatcherGrace, "watcher-grace", time.Minute, "how long Watcher may be unreachable before /readyz fails")
	fs.DurationVar(&c.ReconcileEvery, "reconcile-every", 0, "compare Watcher with the desired state this often and export the drift as metrics (report only); 0 disables")
	return c, &unassigned, &apiKey
}

// loadServeConfig parses and validates serve's flags.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	fs := flag.NewFlagSet("watcherbridge serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, unassigned, apiKey := serveFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	var err error
	if c.Unassigned, err = handlers.ParseUnassigned(*unassigned); err != nil {
		return nil, err
	}
	c.watcherAPIKey = *apiKey
	if c.WatcherAPIKeyFile != "" {
		if c.watcherAPIKey, err = readSecretFile(c.WatcherAPIKeyFile); err != nil {
			return nil, fmt.Errorf("--watcher-api-key-file: %w", err)
		}
	}
	switch {
	case c.WatcherURL == "":
		return nil, fmt.Errorf("--watcher-url is required (or %s)", envName("watcher-url"))
	case c.watcherAPIKey == "":
		return nil, fmt.Errorf("no Watcher API key: set --watcher-api-key-file (or --watcher-api-key, %s)", envName("watcher-api-key"))
	case c.Concurrency < 1 || c.BatchSize < 1 || c.ImportBatch < 1 || c.MaxAckPending < c.Concurrency:
		return nil, fmt.Errorf("--concurrency (%d), --batch-size (%d) and --import-batch (%d) must be positive and --max-ack-pending (%d) at least --concurrency: raise --max-ack-pending or lower --concurrency (defaults 4096 and 1024)",
			c.Concurrency, c.BatchSize, c.ImportBatch, c.MaxAckPending)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.IngestTokenFile == "" && c.IngestBasicFile == "" && !c.InsecureNoAuth {
		return nil, fmt.Errorf("no ingest credentials: set --ingest-token-file (or --ingest-basic-file), or --insecure-no-auth to accept pushes from anyone")
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return c, nil
}

// readSecretFile reads a key mounted as a file; the trailing newline most
// editors add is not part of the key.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	// A key travels in an HTTP header: anything but printable ASCII means
	// a damaged file, and accepting it would fail every call later.
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "", fmt.Errorf("%s holds a character at byte %d that cannot be part of a key (control, space or non-ASCII): rewrite the file with the key alone", path, i)
		}
	}
	return s, nil
}

// newLogger builds the root logger: JSON lines by default, readable text
// with --log-format console.
func newLogger(format, level string, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !colorTerminal(w)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// colorTerminal reports whether w is a terminal that wants colours:
// escape codes in a log file or a journal are noise, and NO_COLOR
// (no-color.org) turns them off everywhere.
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readIngestCredentials reads the token and basic-credential files: one
// entry a line, blank lines and lines starting with # ignored.
func readIngestCredentials(tokenFile, basicFile string) (tokens []string, basic map[string]string, err error) {
	lines := func(path string) ([]string, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out, nil
	}
	if tokens, err = lines(tokenFile); err != nil {
		return nil, nil, fmt.Errorf("--ingest-token-file: %w", err)
	}
	pairs, err := lines(basicFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ingest-basic-file: %w", err)
	}
	basic = map[string]string{}
	for i, p := range pairs {
		user, pass, ok := strings.Cut(p, ":")
		if !ok || user == "" || pass == "" {
			// The line itself may hold a password: name only its number.
			return nil, nil, fmt.Errorf("--ingest-basic-file %s line %d: want user:password", basicFile, i+1)
		}
		basic[user] = pass
	}
	if (tokenFile != "" || basicFile != "") && len(tokens) == 0 && len(basic) == 0 {
		return nil, nil, fmt.Errorf("the ingest credential files hold no credentials: add a token to --ingest-token-file")
	}
	return tokens, basic, nil
}
