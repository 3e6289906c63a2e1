package cli

import (
	"errors"
	"fmt"
	"testing"
)

// TestWebRTCHostIPs checks which addresses serve offers as WebRTC host candidates.
func TestWebRTCHostIPs(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		given        []string
		expect       string
		expectErr    error
	}{
		{"loopback listen", "127.0.0.1:8080", nil, "[127.0.0.1]", nil},
		{"localhost listen", "localhost:8080", nil, "[127.0.0.1]", nil},
		{"IPv6 loopback listen", "[::1]:8080", nil, "[::1]", nil},
		{"every interface", "0.0.0.0:8080", nil, "[]", nil},
		{"named", "0.0.0.0:8080", []string{"10.0.0.5,::1", "192.168.1.2"}, "[10.0.0.5 ::1 192.168.1.2]", nil},
		{"not an IP", "127.0.0.1:8080", []string{"host.example"}, "", errUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wf webrtcFlags
			for _, v := range tc.given {
				_ = wf.ips.Set(v)
			}
			ips, err := wf.hostIPs(tc.listen)
			if tc.expectErr != nil {
				if !errors.Is(err, tc.expectErr) {
					t.Fatalf("err %v, want %v", err, tc.expectErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ips); got != tc.expect {
				t.Fatalf("%s, want %s", got, tc.expect)
			}
		})
	}
}
