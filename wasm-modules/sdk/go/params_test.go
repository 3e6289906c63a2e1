package rm

import "testing"

func TestParams(t *testing.T) {
	p := Params(` { "ms" : 30.5, "nested": {"a": [1, "}", {"b": null}]}, "s": "a\"b\u00e9", "on": true,
		"off": false, "none": null, "neg": -2e3 } `)
	tests := []struct {
		name   string
		given  func() any
		expect any
	}{
		{"number", func() any { return p.Number("ms", 0) }, 30.5},
		{"number after a nested value", func() any { return p.Number("neg", 0) }, -2000.0},
		{"missing number", func() any { return p.Number("x", 7) }, 7.0},
		{"string is not a number", func() any { return p.Number("s", 1) }, 1.0},
		{"string with escapes", func() any { return p.String("s", "") }, "a\"bé"},
		{"missing string", func() any { return p.String("x", "def") }, "def"},
		{"true", func() any { return p.Bool("on", false) }, true},
		{"false", func() any { return p.Bool("off", true) }, false},
		{"null bool", func() any { return p.Bool("none", true) }, true},
		{"has", func() any { return p.Has("nested") }, true},
		{"null is absent", func() any { return p.Has("none") }, false},
		{"key inside a nested value is not top level", func() any { return p.Has("b") }, false},
		{"not an object", func() any { return Params(`[1]`).Has("a") }, false},
		{"truncated", func() any { return Params(`{"a":1,"b`).Number("b", 3) }, 3.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.given(); got != tc.expect {
				t.Errorf("got %v, want %v", got, tc.expect)
			}
		})
	}
}
