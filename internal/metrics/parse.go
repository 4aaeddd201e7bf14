package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Sample is one parsed line of the text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed exposition.
type Samples struct {
	List  []Sample
	Types map[string]string // family name → counter/gauge/histogram/...
}

// maxLine bounds one line of the text format the parser accepts.
const maxLine = 64 << 10

// Parse reads the text format (comments, HELP and TYPE lines, samples with
// optional labels and an optional timestamp). It is meant for tests and
// tools that check what a daemon exposes.
func Parse(r io.Reader) (*Samples, error) {
	out := &Samples{Types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[1] == "TYPE" {
				if !ValidName(f[2]) {
					return nil, fmt.Errorf("line %d: bad metric name %q", ln, f[2])
				}
				out.Types[f[2]] = f[3]
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", ln, err)
		}
		out.List = append(out.List, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	s.Name = line[:i]
	if !ValidName(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 {
				return s, fmt.Errorf("bad label in %q", line)
			}
			name := strings.TrimSpace(rest[:eq])
			if !validIdent(name, false) {
				return s, fmt.Errorf("bad label name %q", name)
			}
			rest = strings.TrimLeft(rest[eq+1:], " ")
			if !strings.HasPrefix(rest, `"`) {
				return s, fmt.Errorf("label %s: value not quoted", name)
			}
			val, n, err := unquoteLabel(rest[1:])
			if err != nil {
				return s, fmt.Errorf("label %s: %w", name, err)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s repeated", name)
			}
			s.Labels[name] = val
			rest = strings.TrimLeft(rest[1+n:], " ")
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("bad label list in %q", line)
			}
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want value [timestamp] in %q", line)
	}
	v, err := parseValue(f[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	return s, nil
}

// unquoteLabel reads up to the closing quote; n counts the bytes consumed
// including that quote.
func unquoteLabel(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, fmt.Errorf("unfinished escape")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteByte(s[i])
			default:
				return "", 0, fmt.Errorf("bad escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated value")
}

func parseValue(v string) (float64, error) {
	switch v {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("bad value %q", v)
	}
	return f, nil
}

// Find returns the samples called name whose labels include every given
// name/value pair.
func (ss *Samples) Find(name string, labels ...string) []Sample {
	var out []Sample
next:
	for _, s := range ss.List {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Sum adds the values of Find(name, labels...); ok is false when none match.
func (ss *Samples) Sum(name string, labels ...string) (sum float64, ok bool) {
	for _, s := range ss.Find(name, labels...) {
		sum += s.Value
		ok = true
	}
	return sum, ok
}
