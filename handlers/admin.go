package handlers

import (
	"io"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"
)

// Snapshotter writes a consistent copy of the state file.
type Snapshotter interface {
	Backup(w io.Writer) (int64, error)
	Size() int64
}

// StoreBackup serves GET /admin/store/backup: a consistent copy of the live
// state file, taken inside one read transaction while the bridge keeps
// running, so operators never open the live file themselves.
func StoreBackup(db Snapshotter, log zerolog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="watcherbridge.db"`)
		// The size of the snapshot is known only inside its transaction;
		// send it as a trailer so the client can check it got everything.
		w.Header().Set("Trailer", "X-Backup-Bytes")
		n, err := db.Backup(w)
		if err != nil {
			// Headers are gone already; a wrong trailer tells the client.
			log.Error().Err(err).Msg("store backup failed")
			w.Header().Set("X-Backup-Bytes", "-1")
			return
		}
		w.Header().Set("X-Backup-Bytes", strconv.FormatInt(n, 10))
		log.Info().Int64("bytes", n).Str("remote", r.RemoteAddr).Msg("store backup taken")
	}
}
