package rm

import "strconv"

// Params is the node's params: the flat JSON object the host passed to rm_init
// (every default filled in). Its methods read top-level keys without reflection;
// for anything richer, json.Unmarshal it.
type Params []byte

// raw returns key's value as written, or nil when absent or null.
func (p Params) raw(key string) []byte {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil
	}
	for i++; ; i++ {
		i = skipSpace(p, i)
		if i >= len(p) || p[i] != '"' {
			return nil
		}
		kend := skipString(p, i)
		k := p[i+1 : kend-1]
		i = skipSpace(p, kend)
		if i >= len(p) || p[i] != ':' {
			return nil
		}
		i = skipSpace(p, i+1)
		end := skipValue(p, i)
		if string(k) == key {
			if v := p[i:end]; string(v) != "null" {
				return v
			}
			return nil
		}
		i = skipSpace(p, end)
		if i >= len(p) || p[i] != ',' {
			return nil
		}
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at p[i] == '"'.
func skipString(p []byte, i int) int {
	for i++; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(p)
}

func skipValue(p []byte, i int) int {
	if i < len(p) && p[i] == '"' {
		return skipString(p, i)
	}
	depth := 0
	for i < len(p) {
		switch c := p[i]; {
		case c == '"':
			i = skipString(p, i)
			continue
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return i
		}
		i++
	}
	return i
}

// Has reports whether key is present and not null.
func (p Params) Has(key string) bool { return p.raw(key) != nil }

// Number returns the number at key, or def when absent or not a number.
func (p Params) Number(key string, def float64) float64 {
	v, err := strconv.ParseFloat(string(p.raw(key)), 64)
	if err != nil {
		return def
	}
	return v
}

// Bool returns the boolean at key, or def when absent or not a boolean.
func (p Params) Bool(key string, def bool) bool {
	switch string(p.raw(key)) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// String returns the string at key, or def when absent or not a string.
func (p Params) String(key, def string) string {
	v := p.raw(key)
	if len(v) < 2 || v[0] != '"' {
		return def
	}
	s, err := strconv.Unquote(string(v))
	if err != nil {
		return def
	}
	return s
}
