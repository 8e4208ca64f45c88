// Package store keeps the bridge's state in one bbolt file: one record per
// camera keyed by serial (what activation said, what billing said, what was
// last applied to Watcher) and a ledger of the event ids already handled.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FormatVersion is the layout this build reads and writes. Open migrates
// older files forward and refuses newer ones.
const FormatVersion = 4

var (
	bucketMeta    = []byte("meta")
	bucketCameras = []byte("cameras")
	// bucketEvents is the ledger of handled event ids (16-byte digests).
	// Format 3 kept the ids themselves in bucketEventsV3; the migration
	// moves them over in chunks.
	bucketEvents   = []byte("ledger")
	bucketEventsV3 = []byte("events")
	keyVersion     = []byte("format_version")
	// keyCompacted is how far the migration to format 4 got in the
	// cameras bucket, so that a migration cut short resumes.
	keyCompacted = []byte("migrate4_cameras_done")
	// keyMigrating marks a file whose migration to format 4 has started
	// and not finished. Such a file already says format 4, so that an
	// older build refuses it by name instead of reading binary records as
	// JSON; this build sees the mark and resumes.
	keyMigrating = []byte("migrate4_pending")
)

// migrations[v] turns a file of version v into version v+1.
var migrations = map[int]func(*bolt.Tx) error{
	1: addSubscriberIndex,
	2: addSubscriberOwners,
	// 3 to 4 is compactInChunks, outside these single transactions.
}

// compactFrom is the version whose migration runs in chunks.
const compactFrom = 3

// appendFill is the FillPercent of a bucket written only past its last
// key: pages left full, since nothing will be inserted before their end.
const appendFill = 1.0

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for another process's lock on the file;
	// without it bbolt waits forever.
	LockTimeout time.Duration
	// ReadOnly opens a copy for inspection (store verify).
	ReadOnly bool
	// NoSync trades durability for speed; only benchmarks of the naive
	// baseline may set it.
	NoSync bool
	// Log, if set, hears how a migration of the file's format goes: it
	// can take minutes on a large file, and a silent start looks hung.
	Log func(msg string)
}

// DB is the bridge's state file.
type DB struct {
	bolt *bolt.DB
	path string
	log  func(string)
}

// LockedError says that another process holds the state file.
type LockedError struct {
	Path string
	PID  int // 0 when it could not be found
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state file %s is locked by %s: stop the other watcherbridge using this --data-dir, or give this one its own", e.Path, who)
}

// Open opens (creating if needed) the state file at path.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create data dir for %s: %w", path, err)
		}
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly, NoSync: opts.NoSync})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, &LockedError{Path: path, PID: lockHolder(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, log: opts.Log}
	if db.log == nil {
		db.log = func(string) {}
	}
	if opts.ReadOnly {
		err = db.checkVersion()
	} else {
		err = db.init()
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) init() error {
	var v int
	resume := false
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if raw := meta.Get(keyVersion); raw != nil {
			v, _ = strconv.Atoi(string(raw))
		} else if tx.Bucket(bucketCameras) == nil {
			v = FormatVersion // a new file
		}
		if v > FormatVersion {
			return fmt.Errorf("state file %s has format version %d, this build reads up to %d: run a newer watcherbridge", db.path, v, FormatVersion)
		}
		if v == FormatVersion {
			if resume = meta.Get(keyMigrating) != nil; resume {
				return nil
			}
			return createBuckets(tx)
		}
		for ; v < compactFrom; v++ {
			if m := migrations[v]; m != nil {
				if err := m(tx); err != nil {
					return fmt.Errorf("migrate %s from version %d: %w", db.path, v, err)
				}
			}
		}
		if err := meta.Put(keyMigrating, []byte(strconv.Itoa(compactFrom))); err != nil {
			return err
		}
		return meta.Put(keyVersion, []byte(strconv.Itoa(FormatVersion)))
	})
	if err != nil || (v == FormatVersion && !resume) {
		return err
	}
	start := time.Now()
	if resume {
		db.log(fmt.Sprintf("resuming the migration of state file %s to format %d, cut short earlier", db.path, FormatVersion))
	} else {
		db.log(fmt.Sprintf("migrating state file %s from format %d to %d; it is resumed if cut short", db.path, compactFrom, FormatVersion))
	}
	if err := db.compactInChunks(); err != nil {
		return fmt.Errorf("migrate %s from version %d: %w", db.path, compactFrom, err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEventsV3) != nil {
			if err := tx.DeleteBucket(bucketEventsV3); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyCompacted, keyMigrating} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return createBuckets(tx)
	})
	if err == nil {
		db.log(fmt.Sprintf("state file %s migrated to format %d in %s", db.path, FormatVersion, time.Since(start).Round(time.Millisecond)))
	}
	return err
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketCameras, bucketEvents, bucketSubscribers, bucketSubscriberCameras, bucketSubscriberOwners} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return meta(tx).Put(keyVersion, []byte(strconv.Itoa(FormatVersion)))
}

func meta(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketMeta) }

// migrateChunk bounds the records one migration transaction rewrites. A
// bbolt transaction keeps every page it changes in memory until it
// commits: migrating a state file of 300,000 cameras and a million ledger
// entries in one transaction took 1.5 GB. Each chunk commits, and the
// migration resumes where it stopped if the process dies.
var migrateChunk = 20_000

// compactInChunks is the migration from format 3: camera records from
// JSON to the binary encoding, in place, and ledger entries from the
// event ids themselves to their digests, moved to bucketEvents.
func (db *DB) compactInChunks() error {
	cameras, ids := 0, 0
	err := db.inChunks(func(tx *bolt.Tx) (bool, error) {
		b := tx.Bucket(bucketCameras)
		if b == nil {
			return true, nil
		}
		c := b.Cursor()
		var k, v []byte
		if after := meta(tx).Get(keyCompacted); after != nil {
			if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			k, v = c.First()
		}
		type pair struct{ k, v []byte }
		var pairs []pair
		for ; k != nil && len(pairs) < migrateChunk; k, v = c.Next() {
			if v == nil {
				return false, fmt.Errorf("unexpected bucket %q in %s", k, bucketCameras)
			}
			if len(v) > 0 && v[0] == recordCamera {
				continue // already compact
			}
			cam, err := decodeCamera(string(k), v)
			if err != nil {
				return false, fmt.Errorf("decode camera %q: %w", k, err)
			}
			pairs = append(pairs, pair{bytes.Clone(k), encodeCamera(string(k), cam)})
		}
		for _, p := range pairs {
			if err := b.Put(p.k, p.v); err != nil {
				return false, err
			}
		}
		if len(pairs) > 0 {
			if err := meta(tx).Put(keyCompacted, pairs[len(pairs)-1].k); err != nil {
				return false, err
			}
			cameras += len(pairs)
			db.log(fmt.Sprintf("migration: %d camera records rewritten", cameras))
		}
		return k == nil, nil
	})
	if err != nil {
		return err
	}
	return db.inChunks(func(tx *bolt.Tx) (bool, error) {
		old := tx.Bucket(bucketEventsV3)
		if old == nil {
			return true, nil
		}
		ledger, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return false, err
		}
		var keys [][]byte
		c := old.Cursor()
		for k, v := c.First(); k != nil && len(keys) < migrateChunk; k, v = c.Next() {
			if err := ledger.Put(ledgerKey(string(k)), bytes.Clone(v)); err != nil {
				return false, err
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := old.Delete(k); err != nil {
				return false, err
			}
		}
		if len(keys) > 0 {
			ids += len(keys)
			db.log(fmt.Sprintf("migration: %d handled event ids moved to the ledger", ids))
		}
		return len(keys) == 0, nil
	})
}

// inChunks runs chunk in write transactions of its own until it reports
// that it is done.
func (db *DB) inChunks(chunk func(*bolt.Tx) (done bool, err error)) error {
	for {
		var done bool
		err := db.bolt.Update(func(tx *bolt.Tx) (err error) {
			done, err = chunk(tx)
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

func (db *DB) checkVersion() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%s is not a watcherbridge state file (no meta bucket)", db.path)
		}
		v, _ := strconv.Atoi(string(meta.Get(keyVersion)))
		if v < 1 || v > FormatVersion {
			return fmt.Errorf("%s has format version %q, this build reads 1 to %d", db.path, meta.Get(keyVersion), FormatVersion)
		}
		return nil
	})
}

// Close flushes and closes the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file's location.
func (db *DB) Path() string { return db.path }

// Size is the file's size in bytes.
func (db *DB) Size() int64 {
	var n int64
	_ = db.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Update runs fn in one read-write transaction: one fsync for everything fn
// does, which is what makes group commit cheap.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.bolt.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Backup writes a consistent copy of the whole file to w while the bridge
// keeps running (a read transaction sees one snapshot).
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Verify checks a state file's pages and that every record decodes. It is
// meant for backups, never for the live file.
func Verify(path string) (sum Summary, err error) {
	// bbolt trusts its pages: a damaged copy can make it panic or touch
	// memory past the end of the mapped file. Turn both into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s is damaged: %v", path, r)
		}
	}()
	if fi, serr := os.Stat(path); serr == nil && fi.Size()%4096 != 0 {
		return Summary{}, fmt.Errorf("%s is damaged: its size %d is not a whole number of pages (truncated copy?)", path, fi.Size())
	}
	db, err := Open(path, Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return Summary{}, err
	}
	defer db.Close()
	// Every reachable page is read here, in this goroutine, so damage
	// panics where it can be recovered (bbolt's own Check runs in a
	// goroutine of its own, where a panic kills the process).
	err = db.bolt.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) })
	})
	if err != nil {
		return sum, err
	}
	err = db.View(func(tx *Tx) error {
		ledger := tx.tx.Bucket(bucketEvents)
		if ledger == nil {
			ledger = tx.tx.Bucket(bucketEventsV3) // a format 3 backup
		}
		if ledger != nil {
			sum.Events = ledger.Stats().KeyN
		}
		return tx.EachCamera(func(c Camera) error {
			sum.Cameras++
			if c.Applied != nil {
				sum.Applied++
			}
			return nil
		})
	})
	sum.Bytes = db.Size()
	return sum, err
}

// Summary counts what a state file holds.
type Summary struct {
	Cameras int   `json:"cameras"`
	Applied int   `json:"applied"`
	Events  int   `json:"events"`
	Bytes   int64 `json:"bytes"`
}

// Tx is one transaction over the state.
type Tx struct {
	tx *bolt.Tx
	// What PutCamera wrote, for cameraFill: cameraEnd is the last key of
	// the cameras bucket before the first PutCamera (nil if it was
	// empty), known once endKnown; appended counts new cameras after it,
	// inserted new cameras before it; updated is set by a camera written
	// over.
	cameraEnd          []byte
	endKnown           bool
	appended, inserted int
	updated            bool
}

// Camera returns the record of serial; ok is false when none exists.
func (t *Tx) Camera(serial string) (c Camera, ok bool, err error) {
	raw := t.tx.Bucket(bucketCameras).Get([]byte(serial))
	if raw == nil {
		return Camera{}, false, nil
	}
	c, err = decodeCamera(serial, raw)
	if err != nil {
		return Camera{}, false, fmt.Errorf("decode camera %q: %w", serial, err)
	}
	return c, true, nil
}

// PutCamera stores c under its key (the serial, or AddedKey) and keeps the
// index of cameras by subscriber.
func (t *Tx) PutCamera(c Camera) error {
	key := c.Key()
	if key == "" {
		return errors.New("put camera: empty serial")
	}
	b := t.tx.Bucket(bucketCameras)
	old := b.Get([]byte(key))
	b.FillPercent = t.cameraFill(b, key, old != nil)
	var prev string
	if old != nil {
		var err error
		if prev, err = cameraSubscriber(key, old); err != nil {
			return fmt.Errorf("decode camera %q: %w", key, err)
		}
	}
	if err := reindexCamera(t.tx, key, prev, c.SubscriberID()); err != nil {
		return err
	}
	return b.Put([]byte(key), encodeCamera(key, c))
}

// cameraFill counts the camera written under key (over an existing one
// when exists) and returns the FillPercent of the cameras bucket for the
// transaction so far. bbolt splits each page that overflows at that much
// of its size, one value per bucket and transaction, so the last write
// decides. When the transaction added cameras past the last one (an
// activation push, an inventory), the pages that overflow are at the end
// of the bucket, and nothing will be inserted before their end: full
// pages. A few cameras overtaken by others of the same push (1 in 2,000
// in `make bench`) do not change that. Otherwise pages split in the
// middle, where bbolt's default of half leaves room for later writes;
// filling those costs more pages later than it saves. Measured with
// cameras written in order, jittered, shuffled, and updated later
// (in order 489 bytes/camera full against 908 half; shuffled 857 full
// against 688 half).
func (t *Tx) cameraFill(b *bolt.Bucket, key string, exists bool) float64 {
	if !t.endKnown {
		t.endKnown = true
		if k, _ := b.Cursor().Last(); k != nil {
			t.cameraEnd = bytes.Clone(k)
		}
	}
	switch {
	case exists:
		t.updated = true
	case key <= string(t.cameraEnd):
		t.inserted++
	default:
		t.appended++
	}
	if !t.updated && t.inserted*8 <= t.appended {
		return appendFill
	}
	return bolt.DefaultFillPercent
}

// EachCamera calls fn for every camera in serial order.
func (t *Tx) EachCamera(fn func(Camera) error) error {
	return t.tx.Bucket(bucketCameras).ForEach(func(k, v []byte) error {
		c, err := decodeCamera(string(k), v)
		if err != nil {
			return fmt.Errorf("decode camera %q: %w", k, err)
		}
		return fn(c)
	})
}

// Seen tells whether event id was already handled.
func (t *Tx) Seen(id string) bool {
	return t.tx.Bucket(bucketEvents).Get(ledgerKey(id)) != nil
}

// MarkSeen records that event id was handled at at.
func (t *Tx) MarkSeen(id string, at time.Time) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
	// Digests land anywhere in the ledger: bbolt's default fill suits
	// them (a fuller split left the pages 12% to 34% used, against 70%).
	return t.tx.Bucket(bucketEvents).Put(ledgerKey(id), v)
}

// ledgerKey is the ledger's key of event id: 16 bytes of its SHA-256
// whatever the id's length (ids are ~36 bytes, and billing's may be
// longer). At 128 bits, an event wrongly taken for a duplicate stays out
// of reach: about 2^-64 even after 2^32 events.
func ledgerKey(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:16]
}

// lockHolder finds the process holding an flock on path from /proc/locks;
// 0 when it cannot tell (another OS, or no permission).
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	ino := inode(fi)
	if ino == 0 {
		return 0
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	suffix := ":" + strconv.FormatUint(ino, 10)
	for line := range bytes.Lines(locks) {
		f := strings.Fields(string(line))
		// 1: FLOCK  ADVISORY  WRITE 12345 fd:01:123456 0 EOF
		if len(f) >= 6 && strings.HasSuffix(f[5], suffix) {
			pid, _ := strconv.Atoi(f[4])
			return pid
		}
	}
	return 0
}

// walk reads every key and value of b and of its nested buckets.
func walk(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walk(nb); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Seen tells whether event id was already handled, in a read transaction
// of its own.
func (db *DB) Seen(id string) (seen bool, err error) {
	err = db.View(func(tx *Tx) error {
		seen = tx.Seen(id)
		return nil
	})
	return seen, err
}
