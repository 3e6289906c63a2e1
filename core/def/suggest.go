package def

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// didYouMean returns ` (did you mean "x"?)` naming up to three candidates close to
// s, or "" when none is close.
func didYouMean(s string, candidates []string) string {
	type match struct {
		name string
		dist int
	}
	var close []match
	limit := 1 + len(s)/5
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		if d <= limit || (len(s) >= 3 && strings.Contains(strings.ToLower(c), strings.ToLower(s))) {
			close = append(close, match{c, d})
		}
	}
	if len(close) == 0 {
		return ""
	}
	sort.SliceStable(close, func(i, j int) bool { return close[i].dist < close[j].dist })
	names := make([]string, 0, 3)
	for _, m := range close[:min(3, len(close))] {
		names = append(names, strconv.Quote(m.name))
	}
	return " (did you mean " + strings.Join(names, " or ") + "?)"
}

// distance is the optimal string alignment distance between a and b: the
// Levenshtein distance with a swap of two adjacent bytes counting as one edit.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
