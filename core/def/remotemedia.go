package def

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RemoteMedia manifests and node type names.
//
// A RemoteMedia manifest (version, metadata, nodes[{id, node_type, params,
// runtime_hint}], connections[{from, to}], keys in snake_case or camelCase) is
// read by Parse as it is: fromRemoteMedia rewrites its document tree into a
// definition of ours before it is decoded. The node type names RemoteMedia users
// write (VoiceActivityDetector, AudioResampler, WhisperTranscriptionNode, ...)
// resolve to our node types with their params renamed and converted, in our
// definitions too (docs/migration.md lists them).

// alias maps one RemoteMedia node type to ours.
type alias struct {
	// Target is our node type.
	Target string
	// Python says Target is a Python node type (it needs the Python workers).
	Python bool
	// PythonPort, when set, is our Python port of the RemoteMedia node, which
	// takes RemoteMedia's params as they are: runtime_hint python picks it
	// instead of Target.
	PythonPort string
	// Params maps RemoteMedia's params (snake_case) to ours; a param not listed
	// keeps its name.
	Params map[string]paramAlias
	// Defaults are our params set when the definition does not set them: where
	// RemoteMedia's default differs from ours, theirs.
	Defaults map[string]any
}

// paramAlias maps one RemoteMedia param.
type paramAlias struct {
	To      string                // our param; "" drops it (no equivalent that changes the result)
	Scale   float64               // when not 0, the value (a number) is multiplied by it
	Convert func(float64) float64 // when set, the value (a number) is converted by it
	Enum    map[string]string     // string values mapped (lower case keys)
	Problem string                // when set, giving the param is a problem: this says why
}

const modelIDProblem = "RemoteMedia's hub model id is not used here: models load from local files, never downloaded at run time; remove it (the node's default model is used) or set model_path (operator-only) to a local model directory"

// samplesAt16k converts a count of samples to ms at 16 kHz, the rate
// RemoteMedia's chunkers assume by default.
func samplesAt16k(n float64) float64 { return n / 16 }

// dBFS converts a linear RMS level (RemoteMedia's energy_threshold) to dBFS.
func dBFS(v float64) float64 {
	if v <= 0 {
		return -120
	}
	return math.Max(-120, math.Min(0, math.Round(20*math.Log10(v)*100)/100))
}

var qualities = map[string]string{"low": "fast", "medium": "high", "high": "best"}

// remoteMediaAliases maps RemoteMedia node type names to ours. RemoteMedia names
// that are also the names of our Python ports (AudioTransform, PassThrough) are
// not here: they resolve as they are.
var remoteMediaAliases = map[string]alias{
	"VoiceActivityDetector": {
		Target: "vad", PythonPort: "VoiceActivityDetector",
		Params: map[string]paramAlias{
			"frame_duration_ms": {To: "window_ms"},
			"energy_threshold":  {To: "min_level_db", Convert: dBFS},
			"filter_mode":       {To: "gate"},
			"speech_threshold":  {},
			"include_metadata":  {},
		},
		Defaults: map[string]any{"gate": false}, // RemoteMedia passes all audio unless filter_mode
	},
	"AudioBuffer": {
		Target: "chunker",
		Params: map[string]paramAlias{"buffer_size_samples": {To: "ms", Convert: samplesAt16k}},
	},
	"AudioResampler": {
		Target:   "resample",
		Params:   map[string]paramAlias{"target_sample_rate": {To: "rate"}},
		Defaults: map[string]any{"rate": 44100},
	},
	"AudioResampleNode": {
		Target: "resample",
		Params: map[string]paramAlias{
			"target_sample_rate": {To: "rate"},
			"quality":            {To: "quality", Enum: qualities},
		},
	},
	"FastResampleNode": {
		Target: "resample",
		Params: map[string]paramAlias{
			"target_rate": {To: "rate"},
			"quality":     {To: "quality", Enum: qualities},
			"source_rate": {}, // ours reads the rate of each frame
			"channels":    {}, // and its channel count
		},
	},
	"AudioChunkerNode": {
		Target:   "chunker",
		Params:   map[string]paramAlias{"chunk_size": {To: "ms", Convert: samplesAt16k}},
		Defaults: map[string]any{"ms": 32}, // 512 samples at 16 kHz
	},
	"SileroVADNode": {
		Target: "SileroVAD", Python: true,
		Params: map[string]paramAlias{
			"min_silence_duration_ms": {To: "min_silence_ms"},
			"sampling_rate":           {}, // ours runs at 16 kHz, resampling its input
			"min_speech_duration_ms":  {},
			"speech_pad_ms":           {},
		},
		Defaults: map[string]any{"min_silence_ms": 100},
	},
	"WhisperTranscriptionNode": {
		Target: "WhisperASR", Python: true,
		Params: map[string]paramAlias{
			"model_id":                  {Problem: modelIDProblem},
			"device":                    {}, // CPU (faster-whisper)
			"torch_dtype":               {}, // compute_type is ours
			"chunk_length_s":            {},
			"initial_buffer_duration_s": {},
			"max_buffer_duration_s":     {},
			"buffer_growth_factor":      {},
			"overlap_duration_s":        {},
		},
	},
	"UltravoxNode": {
		Target: "UltravoxNode", Python: true,
		Params: map[string]paramAlias{
			"model_id":          {Problem: modelIDProblem},
			"torch_dtype":       {},
			"buffer_duration_s": {},
		},
	},
	"KokoroTTSNode": {
		Target: "KokoroTTS", Python: true,
		Params: map[string]paramAlias{
			"node_id":       {},
			"sample_rate":   {}, // Kokoro speaks at 24 kHz
			"split_pattern": {},
			"stream_chunks": {},
			"skip_tokens":   {},
		},
	},
	"VADTriggeredBuffer": {
		Target: "speech_buffer",
		Params: map[string]paramAlias{
			"min_speech_duration_s": {To: "min_speech_ms", Scale: 1000},
			"max_speech_duration_s": {To: "max_speech_ms", Scale: 1000},
			"pre_speech_buffer_s":   {To: "pre_roll_ms", Scale: 1000},
			"silence_duration_s":    {}, // the VAD's hangover_ms ends speech here
			"max_silence_gap_s":     {},
			"sample_rate":           {},
		},
		// RemoteMedia's buffer has no barge-in: a live session would turn ours on.
		Defaults: map[string]any{"min_speech_ms": 1000, "max_speech_ms": 10000, "pre_roll_ms": 1000, "barge_in_ms": 0},
	},
	"TextCollectorNode": {
		Target: "text_collector",
		Params: map[string]paramAlias{
			"min_sentence_length":  {To: "min_chars"},
			"split_pattern":        {}, // ours ends sentences at . ! ? and line breaks
			"yield_partial_on_end": {}, // ours sends the rest on flush
			"node_id":              {},
		},
	},
	"AudioLevel":           audioLevel,
	"AudioLevelNode":       audioLevel,
	"SilenceDetector":      silenceDetector,
	"SilenceDetectorNode":  silenceDetector,
	"ClippingDetector":     clippingDetector,
	"ClippingDetectorNode": clippingDetector,
}

// RemoteMediaTypes returns the RemoteMedia node type names that resolve to
// another of ours, mapped to it.
func RemoteMediaTypes() map[string]string {
	out := make(map[string]string, len(remoteMediaAliases))
	for name, a := range remoteMediaAliases {
		out[name] = a.Target
	}
	return out
}

// remoteMediaNamesOf returns the RemoteMedia names that resolve to our type typ,
// sorted, and whether typ is a Python node type, for the message about a type
// the registry lacks.
func remoteMediaNamesOf(typ string) (names []string, python bool) {
	for name, a := range remoteMediaAliases {
		if a.Target == typ {
			names = append(names, name)
			python = python || a.Python
		}
	}
	sort.Strings(names)
	return names, python
}

// camelKeys are the camelCase spellings of manifest fields.
var camelKeys = map[string]string{
	"nodeType": "node_type", "runtimeHint": "runtime_hint", "queueSize": "queue_size", "onError": "on_error",
	"isStreaming": "is_streaming", "isOutputNode": "is_output_node", "mediaCapabilities": "media_capabilities",
	"pythonDeps": "python_deps", "fastPath": "fast_path", "pythonEnv": "python_env", "createdAt": "created_at",
	"autoNegotiate": "auto_negotiate",
}

// Fields of RemoteMedia manifests that have no meaning here: a manifest loads
// without them.
var (
	manifestOnlyTop  = []string{"python_env"}
	manifestOnlyNode = []string{"is_streaming", "is_output_node", "capabilities", "media_capabilities", "execution", "docker", "fast_path", "python_deps"}
)

// remoteMediaHints maps RemoteMedia's runtime_hint values to ours.
var remoteMediaHints = map[string]string{"rust": "auto", "rust_python": "python", "cpython": "python", "cpython_wasm": "python"}

// snake turns camelCase into snake_case ("minSpeechDurationMs" ->
// "min_speech_duration_ms"); snake_case stays as it is.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func mapIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if i := mapIndex(n, key); i >= 0 {
		return resolve(n.Content[i+1])
	}
	return nil
}

func mapDelete(n *yaml.Node, key string) bool {
	i := mapIndex(n, key)
	if i < 0 {
		return false
	}
	n.Content = append(n.Content[:i], n.Content[i+2:]...)
	return true
}

// renameCamel renames the camelCase keys of a mapping that have a snake_case
// spelling; it reports whether it renamed one.
func renameCamel(n *yaml.Node) bool {
	renamed := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if s, ok := camelKeys[n.Content[i].Value]; ok && mapIndex(n, s) < 0 {
			n.Content[i].Value = s
			renamed = true
		}
	}
	return renamed
}

func isMapping(n *yaml.Node) bool { return n != nil && n.Kind == yaml.MappingNode }

// fromRemoteMedia rewrites a RemoteMedia manifest's document tree (root, the
// top mapping) into a definition of ours, in place: camelCase keys become
// snake_case, fields that mean nothing here are dropped (and, in a manifest,
// metadata beyond name and description), RemoteMedia runtime hints become ours,
// and RemoteMedia node types become ours with their params mapped. A document
// that is already ours is left as it is. Params that cannot be mapped are
// problems in ps.
func fromRemoteMedia(root *yaml.Node, ps *problems) {
	root = resolve(root)
	if !isMapping(root) {
		return
	}
	manifest := renameCamel(root)
	for _, k := range manifestOnlyTop {
		manifest = mapDelete(root, k) || manifest
	}
	var nodes []*yaml.Node
	if seq := mapValue(root, "nodes"); seq != nil && seq.Kind == yaml.SequenceNode {
		nodes = seq.Content
	}
	for i, n := range nodes {
		if n = resolve(n); isMapping(n) {
			manifest = convertNode(n, "nodes["+strconv.Itoa(i)+"]", ps) || manifest
		}
	}
	wireSpeechBuffers(root, nodes, whisperFromRemoteMedia)
	if md := mapValue(root, "metadata"); isMapping(md) {
		renameCamel(md)
		if manifest || mapIndex(md, "created_at") >= 0 {
			kept := md.Content[:0]
			for i := 0; i+1 < len(md.Content); i += 2 {
				if k := md.Content[i].Value; k == "name" || k == "description" {
					kept = append(kept, md.Content[i], md.Content[i+1])
				}
			}
			md.Content = kept
		}
	}
}

// convertNode rewrites one node of a manifest; it reports whether the node had
// anything only a RemoteMedia manifest has.
func convertNode(n *yaml.Node, path string, ps *problems) bool {
	manifest := renameCamel(n)
	for _, k := range manifestOnlyNode {
		manifest = mapDelete(n, k) || manifest
	}
	hint := ""
	if h := mapValue(n, "runtime_hint"); h != nil && h.Kind == yaml.ScalarNode {
		if ours, ok := remoteMediaHints[h.Value]; ok {
			h.Value, manifest = ours, true
		}
		hint = h.Value
	}
	t := mapValue(n, "node_type")
	if t == nil || t.Kind != yaml.ScalarNode {
		return manifest
	}
	a, ok := remoteMediaAliases[t.Value]
	if !ok {
		return manifest
	}
	if t.Value == "WhisperTranscriptionNode" {
		setScalar(n, whisperFromRemoteMedia, "true") // for wireSpeechBuffers, which removes it
	}
	params := mapValue(n, "params")
	if params != nil && !isMapping(params) {
		params = nil // decodeNode reports it
	}
	if params != nil {
		for i := 0; i+1 < len(params.Content); i += 2 {
			params.Content[i].Value = snake(params.Content[i].Value)
		}
	}
	if hint == "python" && a.PythonPort != "" {
		t.Value = a.PythonPort // our Python port takes RemoteMedia's params
		return true
	}
	t.Value = a.Target
	if params == nil && len(a.Defaults) > 0 {
		params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "params"}, params)
	}
	if params == nil {
		return true
	}
	kept := make([]*yaml.Node, 0, len(params.Content))
	for i := 0; i+1 < len(params.Content); i += 2 {
		k, v := params.Content[i], resolve(params.Content[i+1])
		m, ok := a.Params[k.Value]
		switch {
		case !ok:
			kept = append(kept, k, v)
		case m.Problem != "":
			ps.add(path+".params."+k.Value, "%s%s", m.Problem, at(k))
		case m.To == "":
			// no equivalent here: dropped (docs/migration.md lists them)
		default:
			if convertValue(v, m, path+".params."+k.Value, ps) {
				k.Value = m.To
				kept = append(kept, k, v)
			}
		}
	}
	params.Content = kept
	for _, k := range sortedKeys(a.Defaults) {
		if mapIndex(params, k) < 0 {
			var v yaml.Node
			if err := v.Encode(a.Defaults[k]); err == nil {
				params.Content = append(params.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &v)
			}
		}
	}
	return true
}

// convertValue converts a param's value in place as m says; it reports false
// (with a problem) for a value it cannot convert.
func convertValue(v *yaml.Node, m paramAlias, path string, ps *problems) bool {
	if isNull(v) {
		return true
	}
	if m.Enum != nil && v.Kind == yaml.ScalarNode {
		if ours, ok := m.Enum[strings.ToLower(v.Value)]; ok {
			v.Value, v.Tag, v.Style = ours, "!!str", 0
		}
		return true
	}
	if m.Scale == 0 && m.Convert == nil {
		return true
	}
	x, err := strconv.ParseFloat(v.Value, 64)
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || err != nil {
		ps.add(path, "must be a number%s", at(v))
		return false
	}
	if m.Scale != 0 {
		x *= m.Scale
	}
	if m.Convert != nil {
		x = m.Convert(x)
	}
	x = math.Round(x*1e6) / 1e6 // 0.8 s is 800 ms, not 800.0000000000001
	if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
		v.Value, v.Tag = strconv.FormatInt(int64(x), 10), "!!int"
	} else {
		v.Value, v.Tag = strconv.FormatFloat(x, 'g', -1, 64), "!!float"
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const whisperFromRemoteMedia = "whisper_from_remotemedia"

// setScalar sets a string key of a mapping.
func setScalar(n *yaml.Node, key, value string) {
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// wireSpeechBuffers adds the events edge a speech_buffer needs: RemoteMedia's
// VADTriggeredBuffer reads the VAD's decisions from the audio it gets, ours from
// the vad's events port, so a connection "vad -> buffer" (no ports) also gets
// "vad.events -> buffer.events" when the document does not name it. A
// WhisperTranscriptionNode fed by a buffer transcribes each utterance as it
// comes (WhisperASR's per_utterance), as RemoteMedia's transcribes its buffer.
func wireSpeechBuffers(root *yaml.Node, nodes []*yaml.Node, marker string) {
	types := map[string]string{}
	whisper := map[string]*yaml.Node{}
	for _, n := range nodes {
		if n = resolve(n); isMapping(n) {
			id, t := mapValue(n, "id"), mapValue(n, "node_type")
			if mapDelete(n, marker) && id != nil {
				whisper[id.Value] = n
			}
			if id != nil && t != nil {
				types[id.Value] = t.Value
			}
		}
	}
	conns := mapValue(root, "connections")
	if conns == nil || conns.Kind != yaml.SequenceNode {
		return
	}
	have := map[[2]string]bool{}
	var add [][2]string
	for _, c := range conns.Content {
		if c = resolve(c); !isMapping(c) {
			continue
		}
		from, to := mapValue(c, "from"), mapValue(c, "to")
		if from == nil || to == nil {
			continue
		}
		have[[2]string{from.Value, to.Value}] = true
		if types[from.Value] == "vad" && types[to.Value] == "speech_buffer" {
			add = append(add, [2]string{from.Value + ".events", to.Value + ".events"})
		}
		if w := whisper[to.Value]; w != nil && types[from.Value] == "speech_buffer" {
			params := mapValue(w, "params")
			if params == nil {
				params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				w.Content = append(w.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "params"}, params)
			}
			if isMapping(params) && mapIndex(params, "per_utterance") < 0 {
				params.Content = append(params.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "per_utterance"},
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
			}
		}
	}
	for _, e := range add {
		if have[e] {
			continue
		}
		have[e] = true
		str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
		conns.Content = append(conns.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map",
			Content: []*yaml.Node{str("from"), str(e[0]), str("to"), str(e[1])}})
	}
}

// RemoteMedia's three audio monitors are one module here, level: per-window
// levels, silence runs and clipped samples, as JSON events.
var (
	audioLevel = alias{
		Target: "level",
		Params: map[string]paramAlias{
			"silence_threshold_db":    {To: "silence_db"},
			"low_volume_threshold_db": {}, // the events carry rms_db: compare it
		},
		Defaults: map[string]any{"silence_db": -60},
	}
	silenceDetector = alias{
		Target: "level",
		Params: map[string]paramAlias{
			"silence_threshold_db":    {To: "silence_db"},
			"sustained_silence_ms":    {To: "silence_ms"},
			"dropout_count_threshold": {},
			"dropout_window_ms":       {},
		},
		Defaults: map[string]any{"levels": false, "silence_db": -50, "silence_ms": 500},
	}
	clippingDetector = alias{
		Target: "level",
		Params: map[string]paramAlias{
			"saturation_threshold":       {To: "clip_level"},
			"saturation_ratio_threshold": {},
			"crest_factor_threshold_db":  {},
		},
		Defaults: map[string]any{"levels": false, "clip_level": 0.99},
	}
)
