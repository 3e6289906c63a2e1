package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVoiceSection: the page's voice table shows each side's medians, the
// ratio of plain Python to hybrid and the utterance-to-transcript difference.
func TestVoiceSection(t *testing.T) {
	res := &measurements{results: map[string]map[string][]float64{}, Machine: machine{CPU: "Test CPU", Cores: 2}}
	for _, m := range []struct {
		bench, unit string
		v           float64
	}{
		{voiceBench + "live", "utterance_ms", 300},
		{voiceBench + "live", "transcript_ms", 800},
		{voiceBench + "live", "transcript_ms", 900}, // the median of 800, 900, 1000
		{voiceBench + "live", "transcript_ms", 1000},
		{voiceBench + "live", "reply_ms", 950},
		{voiceBench + "python", "utterance_ms", 450},
		{voiceBench + "python", "transcript_ms", 1350},
		{voiceBench + "python", "reply_ms", 1900},
	} {
		res.add(m.bench, m.unit, m.v)
	}
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writePage(path, res, tableOf(res)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"| end of speech to the utterance cut out for Whisper (VAD, segment buffer, their orchestration) | 300 | 450 | 1.5× |",
		"| end of speech to the transcript | 900 | 1350 | 1.5× |",
		"| end of speech to the first reply audio | 950 | 1900 | 2× |",
		"| the difference of the medians: utterance to transcript (the Whisper call and its hops) | 600 | 900 | 1.5× |",
		"| voice turn (examples/voice.yaml, one utterance, live session at real-time pace): end of speech to the utterance cut for Whisper | 300 ms |",
		"| plain Python: end of speech to first reply audio | 1900 ms |",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}

// TestSelectedBy: -only picks suites by folder and package, or by -bench
// pattern ignoring case.
func TestSelectedBy(t *testing.T) {
	voice := suite{dir: ".", pkg: "./target/server/cli", bench: "VoiceTurn"}
	frontEnd := suite{dir: ".", pkg: "./target/server/cli", bench: "FrontEnd|LoadModules"}
	for _, c := range []struct {
		name   string
		s      suite
		only   string
		expect bool
	}{
		{"everything", voice, "", true},
		{"by pattern, any case", voice, "voice", true},
		{"by package", voice, "server/cli", true},
		{"by package, another suite", frontEnd, "server/cli", true},
		{"another suite's pattern", frontEnd, "voice", false},
		{"the live rows' name", voice, "live", false},
	} {
		if got := c.s.selectedBy(c.only); got != c.expect {
			t.Errorf("%s: %+v selected by %q = %v, want %v", c.name, c.s, c.only, got, c.expect)
		}
	}
}
