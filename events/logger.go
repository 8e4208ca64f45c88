package events

import (
	"errors"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// WatermillLogger adapts zerolog to Watermill. Watermill's Info lines are
// per-message chatter ("got msg"), so they are logged at Debug; its errors
// stay errors.
type WatermillLogger struct {
	log zerolog.Logger
}

// NewWatermillLogger wraps log for Watermill's router and pub/subs.
func NewWatermillLogger(log zerolog.Logger) WatermillLogger {
	return WatermillLogger{log: log.With().Str("component", "watermill").Logger()}
}

func (l WatermillLogger) Error(msg string, err error, fields watermill.LogFields) {
	// The bridge drains its subscribers' connections before closing the
	// router (see serve), so closing them then reports a closed
	// connection: expected, not an error worth an alert.
	if errors.Is(err, nats.ErrConnectionClosed) || (err != nil && strings.Contains(err.Error(), nats.ErrConnectionClosed.Error())) {
		l.log.Debug().Err(err).Fields(map[string]any(fields)).Msg(msg)
		return
	}
	l.log.Error().Err(err).Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Info(msg string, fields watermill.LogFields) {
	l.log.Debug().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Debug(msg string, fields watermill.LogFields) {
	l.log.Debug().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Trace(msg string, fields watermill.LogFields) {
	l.log.Trace().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return WatermillLogger{log: l.log.With().Fields(map[string]any(fields)).Logger()}
}
