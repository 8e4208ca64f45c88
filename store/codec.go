package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Camera records are stored in a binary layout of their own (format
// version 4) rather than as JSON: JSON spent ~1,300 bytes on a camera
// whose facts fit in ~300. Where the bytes went, and how this layout
// saves them:
//
//   - key names: fields are written in a fixed order, without names;
//   - repeats: one event id sits in the activation, in applied and in the
//     history, and the applied state repeats most strings of the
//     activation row. Every string of a record is interned: a string seen
//     before in the record is written as its index (one byte). A fixed
//     dictionary (staticStrings) covers event types, outcomes and id
//     prefixes before the record names them once;
//   - the serial or camera id is the key, so it is not written again;
//   - hex: a long run of lowercase hex at the end of a string (event ids,
//     hashes) is written as bytes, half its length;
//   - shared starts: a string starting like an earlier one (the URLs of
//     one camera share scheme and host) names that one for its start;
//   - times: nanoseconds since the previous time of the record, or the
//     index of an equal time already written (events of the history
//     repeat the times of the parts they set);
//   - Applied.Fields keeps its JSON meaning but is written member by
//     member: known field names as a number, string values interned like
//     every other string.
//
// A record is recordCamera, the subscriber (first, so that PutCamera reads
// it alone), presence bits, then the parts present in the order of
// Camera's fields (encodeCamera). Nothing is dropped: decodeCamera gives
// back what encodeCamera was given, times in UTC. A field added to one of
// the record types must be added here too; TestCameraCodecRoundTrip fills
// every field by reflection and fails until it is.

// recordCamera is the first byte of a binary camera record. JSON records
// (format version 3 and older) start with '{', so a record of either kind
// can be told apart from its first byte.
const recordCamera = 0xC4

// Kinds of a string, in the two low bits of its tag (a uvarint).
const (
	strLiteral = 0 // tag>>2 bytes follow; the string joins the record's table
	strLocal   = 1 // the record's table entry tag>>2
	strStatic  = 2 // staticStrings[tag>>2]
	// strJoined is a head and a tail of tag>>2 bytes, and joins the table.
	// A uvarint h follows the tag: bit 0 says the tail is hex packed (its
	// text is twice as long); h>>1 is 0 when the head follows as a
	// string, else the head is the first n bytes (n a uvarint after h) of
	// the table entry h>>1 - 1.
	strJoined = 3
)

// minHexRun is the shortest hex tail packed: ids and hashes have 32;
// shorter runs are mostly the digits of serials and numbers, where
// packing saves little and costs the decoder an allocation.
const minHexRun = 16

// minShared is the shortest head taken from an earlier string: the
// stream, substream, ONVIF and snapshot URLs of a camera share the
// scheme and host, a title often starts with the model. Below it the
// three bytes of the reference save too little.
const minShared = 8

// staticStrings are strings many records hold, which a record names by
// index without spelling them once. Append only: stored records refer to
// these by position.
var staticStrings = [...]string{
	"camera.activated", "camera.assigned", "camera.unassigned", "camera.added",
	"subscriber.created", "subscriber.updated", "subscriber.deleted",
	"subscriber.folder_granted", "subscriber.folder_revoked",
	"plan.changed", "payment.overdue", "payment.received",
	"applied", "unchanged", "held", "duplicate", "stale",
	"replayed: applied", "replayed: unchanged", "replayed", "replay",
	"act-", "asg-", "evt-", "***", "unassigned by billing",
}

// fieldNames are the member names of Applied.Fields (a Watcher camera's
// JSON) written as a number: 1 + their index. In the order json.Marshal
// writes them from a map, so that the next name is found a step or two
// after the last (see fieldCode). Append only, like staticStrings.
var fieldNames = [...]string{
	"abonent_sign", "agent_id", "agent_key", "agent_model", "agent_serial",
	"can_ptz", "comment", "dvr_depth", "enabled", "extrenal_id", "folder_id",
	"name", "onvif_profile", "onvif_ptz", "onvif_url", "organization_id",
	"preset", "preset_id", "static", "stream_url", "substream_url",
	"thumbnails_url", "title",
}

// fieldCode is 1 + the index of name in fieldNames, 0 when it is not
// there; after is the code of the previous member.
func fieldCode(name string, after int) int {
	for i := after; i < len(fieldNames); i++ {
		if fieldNames[i] == name {
			return i + 1
		}
	}
	if i, ok := fieldIndex[name]; ok {
		return i + 1
	}
	return 0
}

var (
	staticIndex = indexOf(staticStrings[:])
	fieldIndex  = indexOf(fieldNames[:])
	// staticLens has bit n set when a static string is n bytes long: most
	// strings are not static, and this spares them the map lookup.
	staticLens = func() (bits uint64) {
		for _, s := range staticStrings {
			bits |= 1 << len(s) // all shorter than 64
		}
		return bits
	}()
)

func indexOf(list []string) map[string]int {
	m := make(map[string]int, len(list))
	for i, s := range list {
		m[s] = i
	}
	return m
}

// Kinds of Applied.Fields, the first byte after the applied event.
const (
	fieldsNone   = 0 // nil
	fieldsRaw    = 1 // bytes that are not a flat compact JSON object, verbatim
	fieldsObject = 2 // a member count, then the members
)

// Kinds of a member value, in the two low bits of the member's tag; the
// rest of the tag is 1 + the index of its name in fieldNames, or 0 when
// the name follows as a string.
const (
	valString = 0 // a string without escapes: its text follows as a string
	valTrue   = 1
	valFalse  = 2
	valRaw    = 3 // any other value: its JSON text follows as a string
)

// Kinds of a time, in the two low bits of its tag.
const (
	timeSpecial = 0 // tag 0: the zero time; tag 4: seconds and nanoseconds follow (outside the range of the others)
	timeRef     = 1 // the record's time tag>>2
	timeDelta   = 2 // zigzag(tag>>2) nanoseconds after the previous time written
)

// timeBase is where the chain of time deltas starts, so that the first
// time of a record is a small number too.
var timeBase = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// Presence bits of a camera record.
const (
	hasActivation = 1 << iota
	hasBilling
	hasAdded
	hasUnassigned
	hasApplied
	keyIsCameraID // the key is AddedKey(CameraID) and Serial is empty
	serialWritten // Serial is not the key (never written so; kept lossless anyway)
	rowPTZ        // Activation.Row.PTZ is set
	rowPTZTrue    // and true
)

// encoder appends one record to buf.
type encoder struct {
	buf    []byte
	strs   []string // the record's strings so far, by index
	times  []int64  // the record's times so far, by index
	prevNS int64
	// Room for the tables of most records without an allocation.
	strsArr  [32]string
	timesArr [8]int64
}

func (e *encoder) init(seed string, size int) {
	e.buf, e.strs, e.times, e.prevNS = make([]byte, 0, size), e.strsArr[:0], e.timesArr[:0], timeBase
	if seed != "" {
		e.strs = append(e.strs, seed)
	}
}

func (e *encoder) byte(b byte)      { e.buf = append(e.buf, b) }
func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }

func (e *encoder) str(s string) {
	if s == "" {
		e.byte(0)
		return
	}
	if len(s) < 64 && staticLens&(1<<len(s)) != 0 {
		if i, ok := staticIndex[s]; ok {
			e.uvarint(uint64(i)<<2 | strStatic)
			return
		}
	}
	for i, t := range e.strs {
		if t == s {
			e.uvarint(uint64(i)<<2 | strLocal)
			return
		}
	}
	if head, tail, ok := hexTail(s); ok {
		e.uvarint(uint64(len(tail)/2)<<2 | strJoined)
		e.byte(1) // a head string, a hex tail
		e.str(head)
		e.buf, _ = hex.AppendDecode(e.buf, []byte(tail)) // hexTail checked the digits
	} else if i, n := e.shared(s); n > 0 {
		e.uvarint(uint64(len(s)-n)<<2 | strJoined)
		e.uvarint(uint64(i+1) << 1)
		e.uvarint(uint64(n))
		e.buf = append(e.buf, s[n:]...)
	} else {
		e.uvarint(uint64(len(s))<<2 | strLiteral)
		e.buf = append(e.buf, s...)
	}
	e.strs = append(e.strs, s)
}

// shared finds the table entry i whose first n bytes s starts with, n the
// longest and at least minShared; n is 0 when there is none.
func (e *encoder) shared(s string) (i, n int) {
	if len(s) <= minShared {
		return 0, 0
	}
	for j, t := range e.strs {
		if len(t) < minShared || t[0] != s[0] || t[:minShared] != s[:minShared] {
			continue
		}
		k := minShared
		for k < len(t) && k < len(s) && t[k] == s[k] {
			k++
		}
		if k > n {
			i, n = j, k
		}
	}
	return i, n
}

// hexTail splits s before its longest even run of lowercase hex digits,
// when that run is long enough to pack.
func hexTail(s string) (prefix, tail string, ok bool) {
	if len(s) < minHexRun {
		return "", "", false
	}
	i := len(s)
	for i > 0 && (s[i-1] >= '0' && s[i-1] <= '9' || s[i-1] >= 'a' && s[i-1] <= 'f') {
		i--
	}
	if (len(s)-i)%2 == 1 {
		i++
	}
	if len(s)-i < minHexRun {
		return "", "", false
	}
	return s[:i], s[i:], true
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.byte(0)
		return
	}
	sec := t.Unix()
	// UnixNano is defined from 1678 to 2262; the margin keeps the
	// subtraction below from overflowing.
	if sec <= math.MinInt64/1_000_000_000+1 || sec >= math.MaxInt64/1_000_000_000-1 {
		e.uvarint(1<<2 | timeSpecial)
		e.varint(sec)
		e.uvarint(uint64(t.Nanosecond()))
		return
	}
	ns := t.UnixNano()
	for i, v := range e.times {
		if v == ns {
			e.uvarint(uint64(i)<<2 | timeRef)
			return
		}
	}
	d := ns - e.prevNS
	z := uint64(d<<1) ^ uint64(d>>63)
	if z >= 1<<62 {
		e.uvarint(1<<2 | timeSpecial)
		e.varint(sec)
		e.uvarint(uint64(t.Nanosecond()))
		return
	}
	e.uvarint(z<<2 | timeDelta)
	e.times = append(e.times, ns)
	e.prevNS = ns
}

// fields writes Applied.Fields: a flat compact JSON object (what
// json.Marshal makes of a Watcher camera) member by member, anything
// else verbatim.
func (e *encoder) fields(raw json.RawMessage) {
	if len(raw) == 0 {
		e.byte(fieldsNone)
		return
	}
	mark, nstrs := len(e.buf), len(e.strs)
	if e.object(raw) {
		return
	}
	e.buf, e.strs = e.buf[:mark], e.strs[:nstrs]
	e.byte(fieldsRaw)
	e.uvarint(uint64(len(raw)))
	e.buf = append(e.buf, raw...)
}

// object writes raw as fieldsObject and reports whether it could: raw must
// be an object without whitespace whose names have no escapes. Values are
// split out exactly as written, so the bytes read back are raw itself.
func (e *encoder) object(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return false
	}
	// One allocation: every name and value below is a substring of rs.
	rs := string(raw)
	e.byte(fieldsObject)
	countAt := len(e.buf)
	e.byte(0) // the member count, set at the end
	if rs == "{}" {
		return true
	}
	n, code := 0, 0
	for i := 1; ; i++ {
		name, next, ok := plainString(rs, i)
		if !ok || next >= len(rs) || rs[next] != ':' {
			return false
		}
		i = next + 1
		code = fieldCode(name, code)
		tag := uint64(code) << 2
		var val string
		end := 0
		if s, next, ok := plainString(rs, i); ok && next < len(rs) && (rs[next] == ',' || rs[next] == '}') {
			tag, val, end = tag|valString, s, next
		} else if end, ok = valueEnd(rs, i); !ok {
			return false
		} else {
			switch val = rs[i:end]; val {
			case "true":
				tag |= valTrue
			case "false":
				tag |= valFalse
			default:
				tag |= valRaw
			}
		}
		e.uvarint(tag)
		if code == 0 {
			e.str(name)
		}
		if k := tag & 3; k == valString || k == valRaw {
			e.str(val)
		}
		n++
		i = end
		if rs[i] == '}' {
			if i != len(rs)-1 || n > 255 {
				return false
			}
			e.buf[countAt] = byte(n)
			return true
		}
	}
}

// plainString reads the JSON string starting at s[i] when it has no
// escapes, and returns its text and the index after its closing quote.
// The text is kept as it is written, so nothing else needs checking.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	n := strings.IndexByte(s[i+1:], '"')
	if n < 0 || strings.IndexByte(s[i+1:i+1+n], '\\') >= 0 {
		return "", 0, false
	}
	return s[i+1 : i+1+n], i + 2 + n, true
}

// valueEnd finds the end of the JSON value starting at raw[i]: the index
// of the ',' or '}' that closes it in the enclosing object.
func valueEnd(raw string, i int) (int, bool) {
	depth, inString := 0, false
	for j := i; j < len(raw); j++ {
		c := raw[j]
		if inString {
			switch c {
			case '\\':
				j++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case ']':
			depth--
		case '}':
			if depth == 0 {
				return j, j > i
			}
			depth--
		case ',':
			if depth == 0 {
				return j, j > i
			}
		}
	}
	return 0, false
}

// encodeCamera is the stored form of c under key.
func encodeCamera(key string, c Camera) []byte {
	var e encoder
	e.init(keyID(key), 384)
	e.byte(recordCamera)
	// The subscriber comes first so that PutCamera can read the previous
	// one without decoding the whole record.
	e.str(c.SubscriberID())
	var flags uint64
	if c.Activation != nil {
		flags |= hasActivation
		if p := c.Activation.Row.PTZ; p != nil {
			flags |= rowPTZ
			if *p {
				flags |= rowPTZTrue
			}
		}
	}
	if c.Billing != nil {
		flags |= hasBilling
	}
	if c.Added != nil {
		flags |= hasAdded
	}
	if c.Unassigned != nil {
		flags |= hasUnassigned
	}
	if c.Applied != nil {
		flags |= hasApplied
	}
	switch {
	case c.Serial == "" && c.CameraID != "" && isAddedKey(key, c.CameraID):
		flags |= keyIsCameraID
	case c.Serial != key:
		flags |= serialWritten
	}
	e.uvarint(flags)
	if flags&serialWritten != 0 {
		e.str(c.Serial)
	}
	if flags&keyIsCameraID == 0 {
		e.str(c.CameraID)
	}
	if a := c.Activation; a != nil {
		r := &a.Row
		for _, s := range [...]string{r.AgentSerial, r.AgentID, r.AgentKey, r.AgentPin, r.AgentModel, r.StreamURL,
			r.SubstreamURL, r.Thumbnails, r.OnvifURL, r.OnvifProfile, r.AbonentSign, a.EventID} {
			e.str(s)
		}
		e.time(a.Time)
	}
	if b := c.Billing; b != nil {
		e.varint(b.OrganizationID)
		e.varint(b.PresetID)
		for _, s := range [...]string{b.PlanID, b.SubscriberID, b.Title, b.EventID} {
			e.str(s)
		}
		e.time(b.Time)
	}
	if a := c.Added; a != nil {
		e.varint(a.OrganizationID)
		e.varint(a.PresetID)
		for _, s := range [...]string{a.Title, a.StreamURL, a.SubstreamURL, a.OnvifURL, a.PlanID, a.SubscriberID, a.EventID} {
			e.str(s)
		}
		e.time(a.Time)
	}
	if u := c.Unassigned; u != nil {
		e.str(u.Reason)
		e.str(u.EventID)
		e.time(u.Time)
	}
	if a := c.Applied; a != nil {
		e.str(a.Hash)
		e.str(a.EventID)
		e.time(a.At)
		e.fields(a.Fields)
	}
	e.uvarint(uint64(len(c.Recent)))
	for _, r := range c.Recent {
		e.str(r.ID)
		e.str(r.Type)
		e.time(r.Time)
		e.str(r.Outcome)
	}
	return e.buf
}

// keyID is the serial or camera id a key stands for, which the record
// does not repeat.
func keyID(key string) string {
	id, _ := strings.CutPrefix(key, addedPrefix)
	return id
}

// isAddedKey tells whether key is AddedKey(id), without building it.
func isAddedKey(key, id string) bool {
	rest, ok := strings.CutPrefix(key, addedPrefix)
	return ok && rest == id
}

// errTruncated says that a record ends before its last field.
var errTruncated = errors.New("record truncated")

// decoder reads one record. The first error sticks; every read after it
// returns zero values.
type decoder struct {
	b []byte
	// s is b as one string, so that every string read is a substring of
	// one allocation; empty when only the start of a record is read.
	s      string
	off    int
	strs   []string
	times  []int64
	prevNS int64
	depth  int // of strJoined heads being read
	err    error
	// Room for the tables of most records without an allocation.
	strsArr  [32]string
	timesArr [8]int64
}

// init starts reading raw, whole or only its start.
func (d *decoder) init(seed string, raw []byte, whole bool) {
	d.b, d.strs, d.times, d.prevNS = raw, d.strsArr[:0], d.timesArr[:0], timeBase
	if whole {
		d.s = string(raw)
	}
	if seed != "" {
		d.strs = append(d.strs, seed)
	}
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail(errTruncated)
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

// bytes returns the next n bytes.
func (d *decoder) bytes(n uint64) (start, end int) {
	if d.err != nil || n > uint64(len(d.b)-d.off) {
		d.fail(errTruncated)
		return 0, 0
	}
	start = d.off
	d.off += int(n)
	return start, d.off
}

func (d *decoder) substr(start, end int) string {
	if d.s != "" {
		return d.s[start:end]
	}
	return string(d.b[start:end])
}

func (d *decoder) str() string {
	tag := d.uvarint()
	if tag == 0 {
		return ""
	}
	n := tag >> 2
	var s string
	switch tag & 3 {
	case strLiteral:
		s = d.substr(d.bytes(n))
	case strLocal:
		if n >= uint64(len(d.strs)) {
			d.fail(fmt.Errorf("string %d of %d", n, len(d.strs)))
			return ""
		}
		return d.strs[n]
	case strStatic:
		if n >= uint64(len(staticStrings)) {
			d.fail(fmt.Errorf("unknown common string %d", n))
			return ""
		}
		return staticStrings[n]
	case strJoined:
		s = d.joined(n)
	}
	if d.err != nil {
		return ""
	}
	d.strs = append(d.strs, s)
	return s
}

// joined reads the rest of a strJoined string whose tail is n bytes.
func (d *decoder) joined(n uint64) string {
	h := d.uvarint()
	var head string
	if ref := h >> 1; ref == 0 {
		// A head string is never joined twice over in what encoder
		// writes; the bound keeps a damaged record from recursing deep.
		if d.depth++; d.depth > 2 {
			d.fail(errors.New("strings joined too deep"))
			return ""
		}
		head = d.str()
		d.depth--
	} else if ref > uint64(len(d.strs)) {
		d.fail(fmt.Errorf("string %d of %d", ref-1, len(d.strs)))
	} else if t, k := d.strs[ref-1], d.uvarint(); k > uint64(len(t)) {
		d.fail(fmt.Errorf("head of %d bytes from a string of %d", k, len(t)))
	} else {
		head = t[:k]
	}
	start, end := d.bytes(n)
	if d.err != nil {
		return ""
	}
	var b strings.Builder
	if h&1 == 0 {
		b.Grow(len(head) + end - start)
		b.WriteString(head)
		b.Write(d.b[start:end])
		return b.String()
	}
	b.Grow(len(head) + 2*(end-start))
	b.WriteString(head)
	for _, c := range d.b[start:end] {
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

func (d *decoder) time() time.Time {
	tag := d.uvarint()
	n := tag >> 2
	switch tag & 3 {
	case timeSpecial:
		switch n {
		case 0:
			return time.Time{}
		case 1:
			sec := d.varint()
			nsec := d.uvarint()
			if nsec >= 1e9 {
				d.fail(errors.New("bad nanoseconds"))
			}
			return time.Unix(sec, int64(nsec)).UTC()
		}
	case timeRef:
		if n < uint64(len(d.times)) {
			return time.Unix(0, d.times[n]).UTC()
		}
	case timeDelta:
		ns := d.prevNS + (int64(n>>1) ^ -int64(n&1))
		d.times = append(d.times, ns)
		d.prevNS = ns
		return time.Unix(0, ns).UTC()
	}
	d.fail(fmt.Errorf("bad time tag %d", tag))
	return time.Time{}
}

type member struct {
	name string
	kind uint64
	val  string
}

func (d *decoder) fields() json.RawMessage {
	switch d.byte() {
	case fieldsNone:
		return nil
	case fieldsRaw:
		start, end := d.bytes(d.uvarint())
		if d.err != nil {
			return nil
		}
		return json.RawMessage(append([]byte(nil), d.b[start:end]...))
	case fieldsObject:
	default:
		d.fail(errors.New("bad fields kind"))
		return nil
	}
	n := int(d.byte())
	var stack [32]member
	ms := stack[:0]
	size := 2
	for range n {
		tag := d.uvarint()
		m := member{kind: tag & 3}
		switch code := tag >> 2; {
		case code == 0:
			m.name = d.str()
		case code <= uint64(len(fieldNames)):
			m.name = fieldNames[code-1]
		default:
			d.fail(fmt.Errorf("unknown field %d", code))
		}
		switch m.kind {
		case valString:
			m.val = d.str()
			size += 2
		case valTrue:
			m.val = "true"
		case valFalse:
			m.val = "false"
		case valRaw:
			m.val = d.str()
		}
		if d.err != nil {
			return nil
		}
		size += len(m.name) + len(m.val) + 4
		ms = append(ms, m)
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.name...)
		out = append(out, '"', ':')
		if m.kind == valString {
			out = append(out, '"')
			out = append(out, m.val...)
			out = append(out, '"')
		} else {
			out = append(out, m.val...)
		}
	}
	return append(out, '}')
}

// decodeCamera reads the record stored under key, binary or JSON.
func decodeCamera(key string, raw []byte) (Camera, error) {
	var c Camera
	if len(raw) > 0 && raw[0] == '{' {
		err := json.Unmarshal(raw, &c)
		return c, err
	}
	if len(raw) == 0 || raw[0] != recordCamera {
		return c, errors.New("not a camera record")
	}
	id := keyID(key)
	var d decoder
	d.init(id, raw, true)
	d.off = 1
	d.str() // the subscriber, which the parts below name again
	flags := d.uvarint()
	switch {
	case flags&keyIsCameraID != 0:
		c.CameraID = id
	case flags&serialWritten != 0:
		c.Serial = d.str()
		c.CameraID = d.str()
	default:
		c.Serial = key
		c.CameraID = d.str()
	}
	if flags&hasActivation != 0 {
		a := &Activation{}
		r := &a.Row
		r.AgentSerial, r.AgentID, r.AgentKey, r.AgentPin = d.str(), d.str(), d.str(), d.str()
		r.AgentModel, r.StreamURL, r.SubstreamURL, r.Thumbnails = d.str(), d.str(), d.str(), d.str()
		r.OnvifURL, r.OnvifProfile, r.AbonentSign = d.str(), d.str(), d.str()
		if flags&rowPTZ != 0 {
			ptz := flags&rowPTZTrue != 0
			r.PTZ = &ptz
		}
		a.EventID = d.str()
		a.Time = d.time()
		c.Activation = a
	}
	if flags&hasBilling != 0 {
		b := &Billing{OrganizationID: d.varint(), PresetID: d.varint()}
		b.PlanID, b.SubscriberID, b.Title, b.EventID = d.str(), d.str(), d.str(), d.str()
		b.Time = d.time()
		c.Billing = b
	}
	if flags&hasAdded != 0 {
		a := &Added{OrganizationID: d.varint(), PresetID: d.varint()}
		a.Title, a.StreamURL, a.SubstreamURL, a.OnvifURL = d.str(), d.str(), d.str(), d.str()
		a.PlanID, a.SubscriberID, a.EventID = d.str(), d.str(), d.str()
		a.Time = d.time()
		c.Added = a
	}
	if flags&hasUnassigned != 0 {
		u := &Unassignment{Reason: d.str(), EventID: d.str()}
		u.Time = d.time()
		c.Unassigned = u
	}
	if flags&hasApplied != 0 {
		a := &Applied{Hash: d.str(), EventID: d.str()}
		a.At = d.time()
		a.Fields = d.fields()
		c.Applied = a
	}
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(raw)) {
			d.fail(errTruncated)
		} else {
			c.Recent = make([]EventRef, n)
			for i := range c.Recent {
				r := &c.Recent[i]
				r.ID, r.Type = d.str(), d.str()
				r.Time = d.time()
				r.Outcome = d.str()
			}
		}
	}
	if d.err == nil && d.off != len(raw) {
		d.fail(fmt.Errorf("%d bytes after the record", len(raw)-d.off))
	}
	if d.err != nil {
		return Camera{}, d.err
	}
	return c, nil
}

// cameraSubscriber is the subscriber of the record stored under key,
// read without decoding the rest of it.
func cameraSubscriber(key string, raw []byte) (string, error) {
	if len(raw) > 0 && raw[0] == recordCamera {
		var d decoder
		d.init(keyID(key), raw, false)
		d.off = 1
		s := d.str()
		return s, d.err
	}
	c, err := decodeCamera(key, raw)
	return c.SubscriberID(), err
}
