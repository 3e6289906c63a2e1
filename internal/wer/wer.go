// Package wer measures transcripts: the word error rate the voice tests print
// and bound (docs/voice.md).
package wer

import (
	"regexp"
	"strings"
)

var notWord = regexp.MustCompile(`[^a-z0-9' ]`)

// Rate is the word-level edit distance between reference and hypothesis over
// the reference's length, ignoring case and punctuation ("nine" and "9" are
// different words).
func Rate(reference, hypothesis string) float64 {
	words := func(s string) []string { return strings.Fields(notWord.ReplaceAllString(strings.ToLower(s), " ")) }
	ref, hyp := words(reference), words(hypothesis)
	if len(ref) == 0 {
		if len(hyp) == 0 {
			return 0
		}
		return 1
	}
	d := make([]int, len(hyp)+1)
	for j := range d {
		d[j] = j
	}
	prev := make([]int, len(hyp)+1)
	for i := 1; i <= len(ref); i++ {
		copy(prev, d)
		d[0] = i
		for j := 1; j <= len(hyp); j++ {
			sub := prev[j-1]
			if ref[i-1] != hyp[j-1] {
				sub++
			}
			d[j] = min(prev[j]+1, d[j-1]+1, sub)
		}
	}
	return float64(d[len(hyp)]) / float64(len(ref))
}
