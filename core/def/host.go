package def

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Host places a node on other `remotemedia serve` hosts (docs/voice.md, "Nodes on
// another host"): its frames go to a session of its node type there, with its
// client-settable params; no code crosses the wire. In a definition:
//
//	host: http://gpu1:8080
//	host: [http://gpu1:8080, http://gpu2:8080]
//	host: {urls: [http://gpu1:8080, http://gpu2:8080], timeout: 10s}
type Host struct {
	// URLs are the hosts, tried in this order: a failed one hands the node on to
	// the next.
	URLs []string `json:"urls" yaml:"urls"`
	// Timeout bounds each call to a host; 0 means DefaultHostTimeout.
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// DefaultHostTimeout bounds each call of a node to its host when the definition
// does not say.
const DefaultHostTimeout = 30 * time.Second

// checkHost resolves node i, which names hosts: its spec comes from them
// (the registry's Remote), and its params may only be client-settable ones, which are
// what a host takes from another server.
func (c *checker) checkHost(i int, path string) {
	n := c.d.Nodes[i]
	h := n.Host
	if len(h.URLs) == 0 {
		c.ps.add(path+".host", "names no host URL")
		return
	}
	ok := true
	for k, u := range h.URLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			c.ps.add(fmt.Sprintf("%s.host.urls[%d]", path, k), "%q is not an http or https URL of a host", u)
			ok = false
		}
	}
	if h.Timeout < 0 {
		c.ps.add(path+".host.timeout", "must be > 0")
		ok = false
	}
	if !ok {
		return
	}
	remote := c.reg.Remote()
	if remote == nil {
		c.ps.add(path+".host", "nodes on other hosts run only under `remotemedia run` and `serve`")
		return
	}
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultHostTimeout
	}
	spec, err := remote(n.NodeType, h.URLs, timeout)
	if err != nil {
		c.ps.add(path+".host", "%v", err)
		return
	}
	c.nodes[i].Spec = spec
	if spec.Unavailable != "" {
		c.ps.add(path+".node_type", "%s cannot run on its host: %s", n.NodeType, strings.TrimPrefix(spec.Unavailable, n.NodeType+": "))
	}
	for _, p := range spec.Params {
		if _, set := n.Params[p.Name]; set && p.Operator {
			c.ps.add(path+".params."+p.Name, "operator-only param of %s: a node on another host takes client-settable params only (its host's operator sets the rest)", n.NodeType)
		}
	}
	c.nodes[i].Params = checkParams(path+".params", spec, n.Params, &c.ps)
}

// decodeHost reads a node's host: a URL, a list of URLs, or {urls, timeout}.
func decodeHost(v *yaml.Node, path string, ps *problems) *Host {
	if isNull(v) {
		return nil
	}
	h := &Host{}
	switch v.Kind {
	case yaml.ScalarNode:
		h.URLs = []string{v.Value}
	case yaml.SequenceNode:
		h.URLs = decodeURLs(v, path, ps)
	default:
		fields(v, path, ps, []string{"urls", "timeout"}, func(key string, v *yaml.Node) {
			p := join(path, key)
			if key == "urls" {
				if v.Kind == yaml.ScalarNode {
					h.URLs = []string{v.Value}
				} else {
					h.URLs = decodeURLs(v, p, ps)
				}
				return
			}
			s := str(v, p, ps)
			d, err := time.ParseDuration(s)
			if s != "" && (err != nil || d <= 0) {
				ps.add(p, "%q is not a duration above 0 (e.g. 10s, 1m)%s", s, at(v))
				return
			}
			h.Timeout = d
		})
	}
	return h
}

func decodeURLs(v *yaml.Node, path string, ps *problems) []string {
	var urls []string
	for k, item := range sequence(v, path, ps) {
		urls = append(urls, str(resolve(item), fmt.Sprintf("%s[%d]", path, k), ps))
	}
	return urls
}
