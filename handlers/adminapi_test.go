package handlers

import (
	"testing"
)

func TestMaskJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give        string
		want        string
		wantSecrets int
	}{
		{give: `{"agent_key":"ak-1","x":1}`, want: `{"agent_key":"***","x":1}`, wantSecrets: 1},
		{give: `{"data":{"password":"pw","login":"l"},"list":[{"Agent_Key":"k2"}]}`, want: `{"data":{"login":"l","password":"***"},"list":[{"Agent_Key":"***"}]}`, wantSecrets: 2},
		{give: `{"agent_key":""}`, want: `{"agent_key":""}`},
		{give: `{"n":12345678901234567890}`, want: `{"n":12345678901234567890}`},
		{give: `not json agent_key=1`, want: `not json agent_key=1`},
	}
	for _, tt := range tests {
		got, secrets := MaskJSON([]byte(tt.give))
		if string(got) != tt.want || len(secrets) != tt.wantSecrets {
			t.Errorf("MaskJSON(%s) = %s, %d secrets; want %s, %d", tt.give, got, len(secrets), tt.want, tt.wantSecrets)
		}
	}
	if got := MaskText(`watcher said "ak-secret-9" is bad`, []string{"ak-secret-9"}); got != `watcher said "***" is bad` {
		t.Errorf("MaskText = %q", got)
	}
}
