package wer

import "testing"

func TestRate(t *testing.T) {
	for _, tc := range []struct {
		ref, hyp string
		want     float64
	}{
		{"Turn on the lights.", "turn on the lights", 0},
		{"a b c d", "a x c", 0.5}, // one substitution, one deletion of four
		{"at 9", "at nine", 0.5},
		{"", "", 0},
		{"", "noise", 1},
	} {
		if got := Rate(tc.ref, tc.hyp); got != tc.want {
			t.Errorf("Rate(%q, %q) = %v, want %v", tc.ref, tc.hyp, got, tc.want)
		}
	}
}
