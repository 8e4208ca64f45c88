package activation

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// sampleKey is the agent_key in the samples; no reason or error may show it.
const sampleKey = "SeCrEtKeY-7f3a9c"

// samplePin is the agent_pin in the samples.
const samplePin = "PiN-558213"

const fullHeader = "agent_model,agent_serial,agent_id,agent_key,stream_url,substream_url,thumbnails,onvif_url,onvif_profile,can_ptz,abonent_sign"

const fullLine = "Cam X1,SN0001,ag-1," + sampleKey + ",rtsp://10.0.0.5/main,rtsp://10.0.0.5/sub,http://10.0.0.5/snap.jpg,http://10.0.0.5/onvif/device_service,Profile_1,1,123456789012345678901234567890"

const fullJSON = `{"agent_model":"Cam X1","agent_serial":"SN0001","agent_id":"ag-1","agent_key":"` + sampleKey + `",` +
	`"stream_url":"rtsp://10.0.0.5/main","substream_url":"rtsp://10.0.0.5/sub","thumbnails":"http://10.0.0.5/snap.jpg",` +
	`"onvif_url":"http://10.0.0.5/onvif/device_service","onvif_profile":"Profile_1","can_ptz":1,"abonent_sign":123456789012345678901234567890}`

func ptr(b bool) *bool { return &b }

func fullRow() Row {
	return Row{
		AgentSerial:  "SN0001",
		AgentID:      "ag-1",
		AgentKey:     sampleKey,
		AgentModel:   "Cam X1",
		StreamURL:    "rtsp://10.0.0.5/main",
		SubstreamURL: "rtsp://10.0.0.5/sub",
		Thumbnails:   "http://10.0.0.5/snap.jpg",
		OnvifURL:     "http://10.0.0.5/onvif/device_service",
		OnvifProfile: "Profile_1",
		PTZ:          ptr(true),
		AbonentSign:  "123456789012345678901234567890",
	}
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// rej is what a test expects of a rejected row.
type rej struct {
	Index, Line int
	Reason      string // substring of the reason
}

func rejOf(rs []Rejected) []rej {
	var out []rej
	for _, r := range rs {
		out = append(out, rej{Index: r.Index, Line: r.Line, Reason: r.Reason})
	}
	return out
}

// matchRej replaces each got reason by the wanted substring when it contains
// it, so reflect.DeepEqual compares everything else exactly.
func matchRej(got, want []rej) []rej {
	for i := range got {
		if i < len(want) && strings.Contains(got[i].Reason, want[i].Reason) {
			got[i].Reason = want[i].Reason
		}
	}
	return got
}

type parseCase struct {
	name         string
	give         string
	contentType  string
	lim          Limits
	wantFormat   string
	wantRows     []Parsed
	wantRejected []rej
}

func parseCases() []parseCase {
	big := strings.Repeat("m", 1<<20)
	return []parseCase{
		{
			name:        "csv all columns of §8",
			give:        lines(fullHeader, fullLine),
			contentType: "text/csv",
			wantFormat:  FormatCSV,
			wantRows:    []Parsed{{Index: 1, Line: 2, Row: fullRow()}},
		},
		{
			name: "csv other column order",
			give: lines("abonent_sign,can_ptz,onvif_profile,onvif_url,thumbnails,substream_url,stream_url,agent_key,agent_id,agent_serial,agent_model",
				"123456789012345678901234567890,1,Profile_1,http://10.0.0.5/onvif/device_service,http://10.0.0.5/snap.jpg,rtsp://10.0.0.5/sub,rtsp://10.0.0.5/main,"+sampleKey+",ag-1,SN0001,Cam X1"),
			contentType: "application/csv",
			wantFormat:  FormatCSV,
			wantRows:    []Parsed{{Index: 1, Line: 2, Row: fullRow()}},
		},
		{
			name:        "csv CRLF, BOM and header names in other case with spaces",
			give:        "\ufeff" + strings.ReplaceAll(strings.ToUpper(fullHeader), ",", " , ") + "\r\n" + fullLine + "\r\n",
			contentType: "text/comma-separated-values",
			wantFormat:  FormatCSV,
			wantRows:    []Parsed{{Index: 1, Line: 2, Row: fullRow()}},
		},
		{
			name: "csv quoted cells with commas, quotes and newlines",
			give: lines("agent_serial,agent_model,onvif_profile",
				`"SN,1","Cam ""X"", rev 2","line one`,
				`line two"`,
				`SN2,plain,p`),
			wantFormat: FormatCSV,
			wantRows: []Parsed{
				{Index: 1, Line: 2, Row: Row{AgentSerial: "SN,1", AgentModel: `Cam "X", rev 2`, OnvifProfile: "line one\nline two"}},
				{Index: 2, Line: 4, Row: Row{AgentSerial: "SN2", AgentModel: "plain", OnvifProfile: "p"}},
			},
		},
		{
			name:       "csv empty cells and short rows are absent, blank lines skipped",
			give:       lines(fullHeader, "", ",SN1,,,,,,,,,", "   ", ",,,,,,,,,,", ",SN2", "Cam,  SN3  ,,,,,,,,,"),
			wantFormat: FormatCSV,
			wantRows: []Parsed{
				{Index: 1, Line: 3, Row: Row{AgentSerial: "SN1"}},
				{Index: 2, Line: 6, Row: Row{AgentSerial: "SN2"}},
				{Index: 3, Line: 7, Row: Row{AgentSerial: "SN3", AgentModel: "Cam"}},
			},
		},
		{
			name:       "csv unknown extra columns ignored",
			give:       lines("title,agent_serial,dvr_depth,,agent_pin", "Front door,SN1,7,x,"+samplePin),
			wantFormat: FormatCSV,
			wantRows:   []Parsed{{Index: 1, Line: 2, Row: Row{AgentSerial: "SN1", AgentPin: samplePin}}},
		},
		{
			name: "csv ptz, can_ptz and onvif_ptz spellings",
			give: lines("agent_serial,ptz,can_ptz,onvif_ptz",
				"S1,0,,", "S2,,true,", "S3,,,yes", "S4,1,TRUE,1", "S5,no,false,0", "S6,,,"),
			wantFormat: FormatCSV,
			wantRows: []Parsed{
				{Index: 1, Line: 2, Row: Row{AgentSerial: "S1", PTZ: ptr(false)}},
				{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", PTZ: ptr(true)}},
				{Index: 3, Line: 4, Row: Row{AgentSerial: "S3", PTZ: ptr(true)}},
				{Index: 4, Line: 5, Row: Row{AgentSerial: "S4", PTZ: ptr(true)}},
				{Index: 5, Line: 6, Row: Row{AgentSerial: "S5", PTZ: ptr(false)}},
				{Index: 6, Line: 7, Row: Row{AgentSerial: "S6"}},
			},
		},
		{
			name:       "csv thumbnails as a switch is absent",
			give:       lines("agent_serial,thumbnails", "S1,0", "S2,1", "S3,true", "S4,http://h/s.jpg"),
			wantFormat: FormatCSV,
			wantRows: []Parsed{
				{Index: 1, Line: 2, Row: Row{AgentSerial: "S1"}},
				{Index: 2, Line: 3, Row: Row{AgentSerial: "S2"}},
				{Index: 3, Line: 4, Row: Row{AgentSerial: "S3"}},
				{Index: 4, Line: 5, Row: Row{AgentSerial: "S4", Thumbnails: "http://h/s.jpg"}},
			},
		},
		{
			name:       "csv header only",
			give:       lines(fullHeader),
			wantFormat: FormatCSV,
		},
		{
			name:         "csv missing serial rejects that row only",
			give:         lines(fullHeader, fullLine, "Cam,,ag-2,"+sampleKey+",,,,,,0,", strings.Replace(fullLine, "SN0001", "SN0003", 1)),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 1, Line: 2, Row: fullRow()}, {Index: 3, Line: 4, Row: func() Row { r := fullRow(); r.AgentSerial = "SN0003"; return r }()}},
			wantRejected: []rej{{Index: 2, Line: 3, Reason: "agent_serial is missing: every row needs the camera serial number"}},
		},
		{
			name:         "csv more cells than the header",
			give:         lines("agent_serial,agent_model", "S1,Cam, rev 2", "S2,Cam"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", AgentModel: "Cam"}}},
			wantRejected: []rej{{Index: 1, Line: 2, Reason: "row has 3 cells but the header has 2 columns"}},
		},
		{
			name:         "csv bare quote rejects that row only",
			give:         lines("agent_serial,agent_model", `S1,Cam 5" wide`, "S2,Cam"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", AgentModel: "Cam"}}},
			wantRejected: []rej{{Index: 1, Line: 2, Reason: `line 2, column 9: a " appears in a cell that is not quoted`}},
		},
		{
			name:         "csv unbalanced quote keeps the rows before it",
			give:         lines("agent_serial,agent_model", "S1,Cam", `S2,"Cam`, "S3,Cam", "S4,Cam"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 1, Line: 2, Row: Row{AgentSerial: "S1", AgentModel: "Cam"}}},
			wantRejected: []rej{{Index: 2, Line: 3, Reason: "a quoted cell is not closed properly"}},
		},
		{
			name:         "csv invalid UTF-8",
			give:         lines("agent_serial,agent_model", "S1,Cam\xff\xfe", "S2,Cam"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", AgentModel: "Cam"}}},
			wantRejected: []rej{{Index: 1, Line: 2, Reason: "agent_model is not valid UTF-8"}},
		},
		{
			name:         "csv field of 1 MiB",
			give:         lines("agent_serial,agent_model", "S1,"+big, "S2,Cam"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", AgentModel: "Cam"}}},
			wantRejected: []rej{{Index: 1, Line: 2, Reason: "agent_model is 1048576 bytes long, over the limit of 8192"}},
		},
		{
			name:         "csv disagreeing ptz aliases",
			give:         lines("agent_serial,can_ptz,ptz", "S1,1,0", "S2,1,1"),
			wantFormat:   FormatCSV,
			wantRows:     []Parsed{{Index: 2, Line: 3, Row: Row{AgentSerial: "S2", PTZ: ptr(true)}}},
			wantRejected: []rej{{Index: 1, Line: 2, Reason: "ptz disagrees with can_ptz (false vs true)"}},
		},
		{
			name:       "csv bad values",
			give:       lines("agent_serial,stream_url,can_ptz,abonent_sign", "S1,10.0.0.5/main,,", "S2,,maybe,", "S3,,,12.5", "S4,rtsp://h/x,,-42"),
			wantFormat: FormatCSV,
			wantRows:   []Parsed{{Index: 4, Line: 5, Row: Row{AgentSerial: "S4", StreamURL: "rtsp://h/x", AbonentSign: "-42"}}},
			wantRejected: []rej{
				{Index: 1, Line: 2, Reason: "stream_url is not a URL with a scheme and host"},
				{Index: 2, Line: 3, Reason: "can_ptz is not a yes/no value"},
				{Index: 3, Line: 4, Reason: "abonent_sign is not a whole number"},
			},
		},
		{
			name:        "json list",
			give:        "[" + fullJSON + `, {"agent_serial":"S2","ptz":false,"thumbnails":true,"title":"ignored","agent_id":null}]`,
			contentType: "application/json",
			wantFormat:  FormatJSON,
			wantRows:    []Parsed{{Index: 1, Row: fullRow()}, {Index: 2, Row: Row{AgentSerial: "S2", PTZ: ptr(false)}}},
		},
		{
			name:        "json single object with charset",
			give:        fullJSON,
			contentType: "application/json; charset=utf-8",
			wantFormat:  FormatJSON,
			wantRows:    []Parsed{{Index: 1, Row: fullRow()}},
		},
		{
			name:        "json numbers and booleans as strings, serial as number",
			give:        `[{"agent_serial":12345,"onvif_ptz":"true","abonent_sign":"42","thumbnails":0},{"AGENT_SERIAL":" S2 ","can_ptz":"0","thumbnails":"1"}]`,
			contentType: "application/vnd.watcher+json",
			wantFormat:  FormatJSON,
			wantRows:    []Parsed{{Index: 1, Row: Row{AgentSerial: "12345", PTZ: ptr(true), AbonentSign: "42"}}, {Index: 2, Row: Row{AgentSerial: "S2", PTZ: ptr(false)}}},
		},
		{
			name:        "sniff json behind BOM and spaces with text/plain",
			give:        "\ufeff \n [" + fullJSON + "]",
			contentType: "text/plain",
			wantFormat:  FormatJSON,
			wantRows:    []Parsed{{Index: 1, Row: fullRow()}},
		},
		{
			name:        "sniff csv with application/octet-stream",
			give:        lines(fullHeader, fullLine),
			contentType: "application/octet-stream",
			wantFormat:  FormatCSV,
			wantRows:    []Parsed{{Index: 1, Line: 2, Row: fullRow()}},
		},
		{
			name:       "sniff json with no content type",
			give:       `{"agent_serial":"S1"}`,
			wantFormat: FormatJSON,
			wantRows:   []Parsed{{Index: 1, Row: Row{AgentSerial: "S1"}}},
		},
		{
			name:        "sniff with a broken content type",
			give:        `{"agent_serial":"S1"}`,
			contentType: "text/plain; charset",
			wantFormat:  FormatJSON,
			wantRows:    []Parsed{{Index: 1, Row: Row{AgentSerial: "S1"}}},
		},
		{
			name: "json bad elements are rejected, the others kept",
			give: `[{"agent_model":"x"}, 42, [1], null, {"agent_serial":true}, {"agent_serial":"S6","agent_id":{"a":1}},` +
				`{"agent_serial":"S7","can_ptz":1,"ptz":0}, {"agent_serial":"S8","stream_url":"nope"}, {"agent_serial":"S9","abonent_sign":1.5},` +
				`{"agent_serial":"S10","agent_model":"bad` + "\xff" + `"}, {"agent_serial":"S11","Agent_Serial":"S11"}, {"agent_serial":"S12","can_ptz":2},` +
				`{"agent_serial":"S13","agent_model":"` + big + `"}, {"agent_serial":"ok"}]`,
			wantFormat: FormatJSON,
			wantRows:   []Parsed{{Index: 14, Row: Row{AgentSerial: "ok"}}},
			wantRejected: []rej{
				{Index: 1, Reason: "agent_serial is missing"},
				{Index: 2, Reason: "element is a number, not an object"},
				{Index: 3, Reason: "element is a list, not an object"},
				{Index: 4, Reason: "element is null, not an object"},
				{Index: 5, Reason: "agent_serial is true or false: send it as text"},
				{Index: 6, Reason: "agent_id is an object: send a string or a number"},
				{Index: 7, Reason: "ptz disagrees with can_ptz"},
				{Index: 8, Reason: "stream_url is not a URL with a scheme and host"},
				{Index: 9, Reason: "abonent_sign is not a whole number"},
				{Index: 10, Reason: "agent_model is not valid UTF-8"},
				{Index: 11, Reason: "agent_serial appears more than once"},
				{Index: 12, Reason: "can_ptz is not a yes/no value"},
				{Index: 13, Reason: "agent_model is 1048576 bytes long"},
			},
		},
		{
			name:       "json brackets inside strings do not count as nesting",
			give:       `[{"agent_serial":"S` + strings.Repeat("[", 100) + `","agent_model":"\"{{"}]`,
			wantFormat: FormatJSON,
			wantRows:   []Parsed{{Index: 1, Row: Row{AgentSerial: "S" + strings.Repeat("[", 100), AgentModel: `"{{`}}},
		},
		{
			name:       "json empty list",
			give:       " [ ] ",
			wantFormat: FormatJSON,
		},
		{
			name:       "body limit at the largest int64",
			give:       lines("agent_serial", "S1"),
			lim:        Limits{MaxBodyBytes: math.MaxInt64},
			wantFormat: FormatCSV,
			wantRows:   []Parsed{{Index: 1, Line: 2, Row: Row{AgentSerial: "S1"}}},
		},
		{
			name:       "rows up to MaxRows are fine",
			give:       lines("agent_serial", "S1", "S2"),
			lim:        Limits{MaxRows: 2},
			wantFormat: FormatCSV,
			wantRows:   []Parsed{{Index: 1, Line: 2, Row: Row{AgentSerial: "S1"}}, {Index: 2, Line: 3, Row: Row{AgentSerial: "S2"}}},
		},
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tt.give), tt.contentType, tt.lim)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Format != tt.wantFormat {
				t.Errorf("Format = %q, want %q", got.Format, tt.wantFormat)
			}
			if !reflect.DeepEqual(got.Rows, tt.wantRows) {
				t.Errorf("Rows =\n%+v\nwant\n%+v", got.Rows, tt.wantRows)
			}
			if gotRej := matchRej(rejOf(got.Rejected), tt.wantRejected); !reflect.DeepEqual(gotRej, tt.wantRejected) {
				t.Errorf("Rejected =\n%+v\nwant\n%+v", gotRej, tt.wantRejected)
			}
		})
	}
}

type bodyCase struct {
	name        string
	give        string
	contentType string
	lim         Limits
	want        string // substring of BodyError.Reason
}

func bodyCases() []bodyCase {
	return []bodyCase{
		{name: "empty", give: "", want: "push is empty"},
		{name: "whitespace and BOM", give: "\ufeff \r\n\t", contentType: "text/csv", want: "push is empty"},
		{name: "header without agent_serial", give: lines("agent_model,Stream_URL,title", "x,y,z"), want: `the header has no agent_serial column (found "agent_model", "Stream_URL", "title")`},
		{name: "no header line", give: lines("SN1,ag-1," + sampleKey), want: "the first line names none of the known columns"},
		{name: "duplicate header", give: lines("agent_serial,agent_model,AGENT_MODEL", "S1,a,b"), want: `the header names column "agent_model" twice (columns 2 and 3)`},
		{name: "broken header", give: lines(`agent_serial,"agent_model`, "S1,a"), want: "the header line is not valid CSV"},
		{name: "json sent as csv", give: `[{"agent_serial":"S1"}]`, contentType: "text/csv", want: "the body looks like JSON"},
		{name: "csv sent as json", give: lines("agent_serial", "S1"), contentType: "application/json", want: "the body is not JSON"},
		{name: "too many csv rows", give: lines("agent_serial", "S1", "S2", "S3"), lim: Limits{MaxRows: 2}, want: "push has more than 2 rows: split it"},
		{name: "too many json rows", give: `[{"agent_serial":"S1"},{},{}]`, lim: Limits{MaxRows: 2}, want: "push has more than 2 rows: split it"},
		{name: "body too large", give: lines("agent_serial", "S1", "S2"), lim: Limits{MaxBodyBytes: 10}, want: "push is larger than 10 bytes"},
		{name: "json nested 1000 levels", give: "[" + strings.Repeat(`{"a":[`, 500) + strings.Repeat("]}", 500) + "]", want: "nested deeper than 64 levels"},
		{name: "json top-level string", give: `"SN1"`, contentType: "application/json", want: "the JSON document is a string"},
		{name: "json top-level number", give: `42`, contentType: "application/json", want: "the JSON document is a number"},
		{name: "json top-level null", give: `null`, contentType: "application/json", want: "the JSON document is null"},
		{name: "json syntax error", give: `[{"agent_serial": }]`, want: "invalid JSON at byte 18"},
		{name: "json syntax error in single object", give: `{"agent_serial" "x"}`, want: "invalid JSON at byte 17"},
		{name: "json cut off", give: `[{"agent_serial":"S1"}`, want: "the JSON ends too early"},
		{name: "json trailing data", give: `[{"agent_serial":"S1"}] [`, want: "there is more data after the JSON document"},
		{name: "json two objects", give: `{"agent_serial":"S1"}{"agent_serial":"S2"}`, want: "there is more data after the JSON document"},
	}
}

func TestParseBodyErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range bodyCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tt.give), tt.contentType, tt.lim)
			var be *BodyError
			if !errors.As(err, &be) {
				t.Fatalf("Parse error = %v, want a *BodyError", err)
			}
			if !strings.Contains(be.Reason, tt.want) {
				t.Errorf("Reason = %q, want it to contain %q", be.Reason, tt.want)
			}
			if !strings.Contains(err.Error(), "expected CSV") {
				t.Errorf("Error() = %q, want it to say which formats are expected", err)
			}
			if len(got.Rows)+len(got.Rejected) != 0 {
				t.Errorf("got %d rows and %d rejected with a body error, want none", len(got.Rows), len(got.Rejected))
			}
		})
	}
}

func TestParseDeepJSONIsQuick(t *testing.T) {
	t.Parallel()
	give := strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)
	start := time.Now()
	_, err := Parse(strings.NewReader(give), "", Limits{})
	var be *BodyError
	if !errors.As(err, &be) {
		t.Fatalf("Parse error = %v, want a *BodyError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Parse took %v on a deep document", d)
	}
}

func TestParseReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, err := Parse(iotest.ErrReader(boom), "text/csv", Limits{})
	if !errors.Is(err, boom) {
		t.Fatalf("Parse error = %v, want it to wrap %v", err, boom)
	}
	var be *BodyError
	if errors.As(err, &be) {
		t.Errorf("Parse error = %v is a *BodyError; a failing reader is not the sender's fault", err)
	}
}

func TestParseRejectedRaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		give        string
		contentType string
		want        []string // Raw of each rejected row
	}{
		{
			name: "csv record re-joined with secrets masked",
			give: lines("agent_serial,agent_key,agent_pin,agent_model", ","+sampleKey+","+samplePin+`,"a,b"`, "S2,"+sampleKey+",,x,extra"),
			want: []string{`,***,***,"a,b"`, "S2,***,,***,***"},
		},
		{
			name: "csv record with a stray comma masks every cell from the first secret on",
			give: lines("agent_serial,agent_model,agent_key,agent_id", "S1,Cam, rev 2,"+sampleKey+",ag-1"),
			want: []string{"S1,Cam,***,***,***"},
		},
		{
			name: "csv unparsable record shows the cells before the error",
			give: lines("agent_serial,agent_model,agent_key", `S1,"Cam"x,`+sampleKey, "S2,Cam,"+sampleKey),
			want: []string{"S1," + hiddenRest},
		},
		{
			name: "csv unterminated quote hides the swallowed rows",
			give: lines("agent_serial,agent_key,agent_model", "S1,"+sampleKey+`,"Cam`, "S2,"+sampleKey+",Cam"),
			want: []string{"S1,***," + hiddenRest},
		},
		{
			name: "csv unparsable record shown whole without secret columns",
			give: lines("agent_serial,agent_model", `S1,"Cam"x`, "S2,Cam"),
			want: []string{`S1,"Cam"x`},
		},
		{
			name: "json element with secrets masked at any depth",
			give: `[{"agent_key":"` + sampleKey + `","agent_pin":1234,"x":{"AGENT_KEY":["` + sampleKey + `"]},"agent_id":null}, [{"agent_pin":"` + samplePin + `"}], {"agent_key":""}]`,
			want: []string{
				`{"agent_key":"***","agent_pin":"***","x":{"AGENT_KEY":"***"},"agent_id":null}`,
				`[{"agent_pin":"***"}]`,
				`{"agent_key":""}`,
			},
		},
		{
			name: "long raw is cut",
			give: lines("agent_serial,agent_model", ","+strings.Repeat("é", 3000)),
			want: []string{"," + strings.Repeat("é", 1022) + "..."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tt.give), tt.contentType, Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			raws := make([]string, len(got.Rejected))
			for i, r := range got.Rejected {
				raws[i] = r.Raw
			}
			if !reflect.DeepEqual(raws, tt.want) {
				t.Errorf("Raw =\n%q\nwant\n%q", raws, tt.want)
			}
		})
	}
}

// TestNoSecretInOutput feeds every sample through Parse and checks that the
// sample secrets never reach a reason, a raw record or an error.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	var inputs []string
	for _, tt := range parseCases() {
		inputs = append(inputs, tt.give)
	}
	for _, tt := range bodyCases() {
		inputs = append(inputs, tt.give)
	}
	inputs = append(inputs,
		lines(sampleKey+",agent_serial", "x,y"),
		lines("agent_serial,agent_key,can_ptz", "S1,"+sampleKey+",2", ","+sampleKey+",1"),
		lines("agent_key,agent_serial", sampleKey+`,"S1`),
		lines("agent_serial,agent_model,agent_key", "S1,Cam, rev 2,"+sampleKey),
		`[{"agent_key":"`+sampleKey+`","agent_serial":"`+strings.Repeat("s", 200)+`"}, {"agent_key":"`+sampleKey+`\u0000"}]`,
		`{"agent_key":"`+sampleKey+`", "agent_serial":`,
		`[{"agent_key":"`+sampleKey+`"} `+sampleKey+`]`,
	)
	for _, give := range inputs {
		for _, ct := range []string{"", "text/csv", "application/json"} {
			got, err := Parse(strings.NewReader(give), ct, Limits{MaxRows: 3})
			if err != nil && (strings.Contains(err.Error(), sampleKey) || strings.Contains(err.Error(), samplePin)) {
				t.Errorf("error %q shows a secret", err)
			}
			for _, r := range got.Rejected {
				for _, s := range []string{r.Reason, r.Raw} {
					if strings.Contains(s, sampleKey) || strings.Contains(s, samplePin) {
						t.Errorf("rejected row %d shows a secret: %q", r.Index, s)
					}
				}
			}
		}
	}
}
