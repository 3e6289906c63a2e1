package sched

import (
	"testing"
	"time"
)

func TestFormatMicros(t *testing.T) {
	tests := []struct {
		given  time.Duration
		expect string
	}{
		{0, "0"},
		{456 * time.Nanosecond, "0.456"},
		{1234 * time.Nanosecond, "1.23"},
		{12345 * time.Nanosecond, "12.3"},
		{123456 * time.Nanosecond, "123"},
		{1234567 * time.Nanosecond, "1230"},
		{1235678 * time.Nanosecond, "1240"},
		{98765432 * time.Nanosecond, "98800"},
	}
	for _, tt := range tests {
		if got := FormatMicros(tt.given); got != tt.expect {
			t.Errorf("FormatMicros(%v) = %q, want %q", tt.given, got, tt.expect)
		}
	}
}
